//! Events and the first-start seed.

use coliseum_store::NewEvent;

use crate::TestStore;
use crate::support::{finish, starts, unique};

/// `create_event` stores every field with `available = capacity`; `event`
/// finds it; `list_events` orders by start, then name; `starts_at` keeps its offset.
pub async fn events_create_list_order_and_lookup(test: TestStore) {
    let store = test.store.as_ref();
    let tag = unique("ev");
    let specs = [
        // 2032-03-02 19:00 UTC, given in two offsets: the same instant.
        ("b", starts(2032, 3, 2, 21, 2), 40, 4),
        ("a", starts(2032, 3, 2, 14, -5), 10, 2),
        ("c", starts(2032, 3, 1, 20, 0), 1, 1),
        // Late on the 31st in UTC+10 is still the 31st there.
        ("a", starts(2032, 12, 31, 23, 10), 1_000_000, 10),
    ];
    let mut created = Vec::new();
    for (suffix, day, capacity, max_per_user) in specs {
        let input = NewEvent {
            name: format!("{tag} {suffix}"),
            starts_at: day,
            location: format!("Venue {suffix}"),
            description: format!("Description {suffix} — with ünïcode ✓"),
            capacity,
            max_per_user,
        };
        let event = store
            .create_event(input.clone())
            .await
            .expect("create_event");
        assert!(!event.id.is_empty());
        assert_eq!(event.name, input.name);
        assert_eq!(event.date, input.starts_at.date_naive());
        assert_eq!(event.starts_at, input.starts_at);
        assert_eq!(
            event.starts_at.offset(),
            input.starts_at.offset(),
            "the offset is kept"
        );
        assert_eq!(event.description, input.description);
        assert_eq!(event.location, input.location);
        assert_eq!(event.status, coliseum_protocol::EventStatus::OnSale);
        assert_eq!(event.room, format!("event-{}", event.id));
        assert_eq!((event.waitlist, event.held), (0, 0));
        assert_eq!(event.capacity, capacity);
        assert_eq!(event.available, capacity, "available starts at capacity");
        assert_eq!(event.max_per_user, max_per_user);
        assert_eq!(
            store.event(&event.id).await,
            Ok(Some(event.clone())),
            "event by id"
        );
        created.push(event);
    }
    let mut ids: Vec<_> = created.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), created.len(), "ids are distinct");

    let listed: Vec<_> = store
        .list_events()
        .await
        .expect("list_events")
        .into_iter()
        .filter(|e| e.name.starts_with(&tag))
        .collect();
    let expected = vec![
        created[2].clone(), // 2032-03-01 c
        created[1].clone(), // 2032-03-02 19:00 UTC a
        created[0].clone(), // 2032-03-02 19:00 UTC b
        created[3].clone(), // 2032-12-31 a
    ];
    assert_eq!(listed, expected, "ordered by start, then name");
    finish(test).await;
}

/// `seed_events` inserts only into an empty store and reports the count;
/// later calls insert nothing and return 0. Needs a fresh store (the
/// factory's contract).
pub async fn seed_events_only_when_empty(test: TestStore) {
    let store = test.store.as_ref();
    assert_eq!(
        store.list_events().await,
        Ok(Vec::new()),
        "the factory must return a fresh, empty store"
    );
    let seed = coliseum_store::seed::default_events().expect("embedded seed parses");
    assert!(!seed.is_empty());
    assert_eq!(store.seed_events(seed.clone()).await, Ok(seed.len()));
    let listed = store.list_events().await.expect("list_events");
    assert_eq!(listed.len(), seed.len());
    for input in &seed {
        let event = listed
            .iter()
            .find(|e| e.name == input.name)
            .unwrap_or_else(|| panic!("seeded event {} missing", input.name));
        assert_eq!(event.starts_at, input.starts_at);
        assert_eq!(event.description, input.description);
        assert_eq!(event.location, input.location);
        assert_eq!(event.capacity, input.capacity);
        assert_eq!(event.available, input.capacity);
        assert_eq!(event.max_per_user, input.max_per_user);
    }

    assert_eq!(
        store.seed_events(seed.clone()).await,
        Ok(0),
        "seeding again inserts nothing"
    );
    let other = vec![NewEvent {
        name: unique("late seed "),
        starts_at: starts(2033, 1, 1, 20, 0),
        location: "Elsewhere".to_owned(),
        description: String::new(),
        capacity: 5,
        max_per_user: 1,
    }];
    assert_eq!(store.seed_events(other).await, Ok(0));
    assert_eq!(store.list_events().await, Ok(listed), "nothing changed");
    finish(test).await;
}
