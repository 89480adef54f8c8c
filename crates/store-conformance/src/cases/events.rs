//! Events and the first-start seed.

use coliseum_store::NewEvent;

use crate::TestStore;
use crate::support::{date, finish, unique};

/// `create_event` stores every field with `available = capacity`; `event`
/// finds it; `list_events` orders by date, then name.
pub async fn events_create_list_order_and_lookup(test: TestStore) {
    let store = test.store.as_ref();
    let tag = unique("ev");
    let specs = [
        ("b", date(2032, 3, 2), 40, 4),
        ("a", date(2032, 3, 2), 10, 2),
        ("c", date(2032, 3, 1), 1, 1),
        ("a", date(2032, 12, 31), 1_000_000, 10),
    ];
    let mut created = Vec::new();
    for (suffix, day, capacity, max_per_user) in specs {
        let input = NewEvent {
            name: format!("{tag} {suffix}"),
            date: day,
            location: format!("Venue {suffix}"),
            capacity,
            max_per_user,
        };
        let event = store
            .create_event(input.clone())
            .await
            .expect("create_event");
        assert!(!event.id.is_empty());
        assert_eq!(event.name, input.name);
        assert_eq!(event.date, input.date);
        assert_eq!(event.location, input.location);
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
        created[1].clone(), // 2032-03-02 a
        created[0].clone(), // 2032-03-02 b
        created[3].clone(), // 2032-12-31 a
    ];
    assert_eq!(listed, expected, "ordered by date, then name");
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
        assert_eq!(event.date, input.date);
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
        date: date(2033, 1, 1),
        location: "Elsewhere".to_owned(),
        capacity: 5,
        max_per_user: 1,
    }];
    assert_eq!(store.seed_events(other).await, Ok(0));
    assert_eq!(store.list_events().await, Ok(listed), "nothing changed");
    finish(test).await;
}
