//! The records of one decision: the task message a fire publishes and the [`BeatFire`] that
//! settles the window, with deterministic task ids.

use celeriac_schemas::{BeatFire, BeatFireKind, ContentType, Record, TaskMessage};
use celeriac_topics::OutRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::entry::Entry;
use super::error::Result;
use super::ledger::{Action, Due};
use crate::TopicNames;

/// Header naming the entry that fired a task.
pub const HEADER_ENTRY: &str = "beat-entry";
/// Header carrying the window a task was fired for (RFC 3339, UTC).
pub const HEADER_WINDOW: &str = "beat-window";

/// The id of the task fired for `window` of entry `entry` in the app with topic prefix
/// `prefix`: a UUIDv5, so the same window always names the same task and a duplicate publish
/// would be recognisable.
pub fn fire_task_id(prefix: &str, entry: &str, window: DateTime<Utc>) -> Uuid {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:celeriac:beat");
    let name = format!("{prefix}\u{0}{entry}\u{0}{}", window.timestamp_millis());
    Uuid::new_v5(&namespace, name.as_bytes())
}

/// The task message a fire publishes.
pub(crate) fn task_message(
    entry: &Entry,
    due: &Due,
    id: Uuid,
    now: DateTime<Utc>,
    origin: &str,
) -> Result<TaskMessage> {
    let args = ContentType::Json.encode(&entry.args)?;
    let mut message = TaskMessage::new(entry.task.clone(), ContentType::Json.as_str(), args);
    message.id = id;
    message.root_id = id;
    message.queue = entry.queue.clone();
    message.priority = entry.priority;
    message.published_at = now.timestamp_millis();
    message.expires = entry.expires.map(|after| {
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        message.published_at.saturating_add(after)
    });
    message.origin = Some(origin.to_owned());
    message.args_repr = Some(args_repr(&entry.args));
    message
        .headers
        .insert(HEADER_ENTRY.into(), entry.name.clone());
    message.headers.insert(
        HEADER_WINDOW.into(),
        due.window.to_rfc3339_opts(SecondsFormat::Millis, true),
    );
    Ok(message)
}

/// A short rendering of the arguments for logs and dashboards.
fn args_repr(args: &serde_json::Value) -> String {
    const MAX: usize = 200;
    let text = args.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The records of one decision: the task (for a fire) and the beat record, in that order.
pub(crate) fn records(
    names: &TopicNames,
    entry: &Entry,
    due: &Due,
    now: DateTime<Utc>,
    leader: &str,
) -> Result<Vec<OutRecord>> {
    let mut out = Vec::with_capacity(2);
    let (kind, task_id) = match due.action {
        Action::Fire => {
            let id = fire_task_id(names.prefix(), &entry.name, due.window);
            let message = task_message(entry, due, id, now, leader)?;
            out.push(OutRecord::keyed(
                names.tasks(&entry.queue),
                id.to_string(),
                message.encode()?,
            ));
            (BeatFireKind::Fired, Some(id))
        }
        Action::Skip => (BeatFireKind::Skipped, None),
        Action::Register => (BeatFireKind::Registered, None),
    };
    let record = BeatFire {
        entry: entry.name.clone(),
        window: due.window.timestamp_millis(),
        kind,
        task_id,
        missed: due.missed,
        recorded_at: now.timestamp_millis(),
        leader: leader.to_owned(),
    };
    out.push(OutRecord::keyed(names.beat(), entry.name.clone(), record.encode()?).to_partition(0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::beat::Schedule;

    #[test]
    fn ids_depend_on_prefix_entry_and_window_only() {
        let w = Utc.timestamp_opt(1_700_000_000, 0).single().expect("valid");
        let a = fire_task_id("celeriac", "e", w);
        assert_eq!(a, fire_task_id("celeriac", "e", w));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, fire_task_id("celeriac", "f", w));
        assert_ne!(a, fire_task_id("other", "e", w));
        assert_ne!(
            a,
            fire_task_id("celeriac", "e", w + chrono::TimeDelta::milliseconds(1))
        );
    }

    #[test]
    fn a_fire_is_a_task_then_its_record() {
        let names = TopicNames::default();
        let schedule = Schedule::every(std::time::Duration::from_secs(60)).expect("valid");
        let entry = Entry::new("e", schedule, "tasks.add")
            .args(serde_json::json!([2, 3]))
            .queue("math")
            .expires(std::time::Duration::from_secs(10));
        let now = Utc.timestamp_opt(1_700_000_005, 0).single().expect("valid");
        let due = Due {
            entry: "e".into(),
            window: now - chrono::TimeDelta::seconds(5),
            action: Action::Fire,
            missed: 0,
        };
        let out = records(&names, &entry, &due, now, "beat@host").expect("encodes");
        assert_eq!(out.len(), 2);
        assert_eq!(&*out[0].topic, "celeriac.tasks.math");
        let message = TaskMessage::decode(&out[0].payload).expect("decodes");
        assert_eq!(message.args, b"[2,3]");
        assert_eq!(message.content_type, "application/json");
        assert_eq!(message.expires, Some(now.timestamp_millis() + 10_000));
        assert_eq!(
            out[0].key.as_deref(),
            Some(message.id.to_string().as_bytes())
        );
        let fire = BeatFire::decode(&out[1].payload).expect("decodes");
        assert_eq!(
            (fire.kind, fire.task_id, fire.window),
            (
                BeatFireKind::Fired,
                Some(message.id),
                due.window.timestamp_millis()
            )
        );
        assert_eq!(
            (&*out[1].topic, out[1].partition),
            ("celeriac.beat", Some(0))
        );
    }
}
