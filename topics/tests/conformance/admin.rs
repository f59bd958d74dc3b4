//! Admin properties: listing topics, and a group's lag from committed offsets and watermarks.

use std::sync::Arc;

use anyhow::{ensure, Result};
use celeriac_topics::{Log, OutRecord, TopicPartition};

use super::{payload, send_all, topic, unique, Member};

/// `list_topics` names every topic that exists (and not a deleted one); a group's committed
/// offsets against the high watermarks give its lag, which a commit brings to zero.
pub(crate) async fn topics_are_listed_and_lag_is_measurable(log: Arc<dyn Log>) -> Result<()> {
    let gone = topic(&log, "gone", 1).await?;
    let topic = topic(&log, "lag", 2).await?;
    log.delete_topics(std::slice::from_ref(&gone)).await?;
    let listed = log.list_topics().await?;
    ensure!(listed.contains(&topic), "{topic} missing from {listed:?}");
    ensure!(!listed.contains(&gone), "deleted {gone} still listed");
    ensure!(
        listed.windows(2).all(|w| w[0] <= w[1]),
        "not sorted: {listed:?}"
    );
    ensure!(
        listed.iter().all(|t| !t.starts_with("__")),
        "internal topics listed: {listed:?}"
    );
    let records = (0..6)
        .map(|i| OutRecord::keyed(&topic, format!("k{i}"), payload(format!("v{i}"))))
        .collect();
    send_all(&log, records).await?;
    let tps = [
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    ];
    let group = unique("lag-group");
    ensure!(
        log.committed_offsets(&group, &tps).await? == vec![None, None],
        "a new group has committed offsets"
    );
    let lag = |ends: &[i64], committed: &[Option<i64>]| -> i64 {
        ends.iter()
            .zip(committed)
            .map(|(end, c)| end - c.unwrap_or(0))
            .sum()
    };
    let mut ends = Vec::new();
    for tp in &tps {
        ends.push(log.watermarks(tp).await?.1);
    }
    ensure!(ends.iter().sum::<i64>() == 6, "high watermarks {ends:?}");
    let mut member = Member::join(&log, "lagger", &group, &[&topic]).await?;
    let read = member.read(6).await?;
    member.commit_after(&read).await?;
    let committed = log.committed_offsets(&group, &tps).await?;
    ensure!(
        lag(&ends, &committed) == 0,
        "lag after committing everything: ends {ends:?}, committed {committed:?}"
    );
    member.consumer.close().await?;
    log.delete_topics(&[topic]).await?;
    Ok(())
}
