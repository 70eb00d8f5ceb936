//! Kafka end to end, against a real broker (tansu, started and stopped by
//! [`eddy_testutil::kafka::Broker`]; skipped with a message where it is not installed, except
//! under `CI=true`).

use eddy_testutil::kafka::{Broker, Msg};

/// The harness itself: a topic made, filled and read back in order, per partition.
#[test]
fn broker_round_trip() {
    let Some(b) = Broker::start("broker_round_trip") else {
        return;
    };
    b.create_topic("rt", 2);
    let msgs: Vec<Msg> = (0..10)
        .map(|i| Msg {
            partition: i % 2,
            key: Some(b"k"),
            payload: if i % 2 == 0 { b"even" } else { b"odd" },
        })
        .collect();
    b.produce("rt", &msgs);
    let got = b.read_all("rt");
    assert_eq!(got.len(), 10);
    for r in &got {
        let want: &[u8] = if r.partition == 0 { b"even" } else { b"odd" };
        assert_eq!(r.payload, want);
    }
    // the broker down and back: its topics are still there
    b.stop();
    b.restart();
    assert_eq!(b.read_all("rt").len(), 10);
}
