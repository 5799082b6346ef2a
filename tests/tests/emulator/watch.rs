//! Watches: kube-rs reflectors and raw watches, 410 recovery, streaming lists, bookmarks, selectors.

use super::*;

#[tokio::test]
async fn reflector_on_a_crd_and_raw_watch_on_pods_see_added_modified_deleted() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let ar = models_resource();
    let models: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let writer = reflector::store::Writer::new(ar.clone());
    let reader = writer.as_reader();
    let mut stream = reflector(writer, watcher(models.clone(), watcher::Config::default())).boxed();
    next_where(&mut stream, "InitDone", |e| {
        matches!(e, Ok(watcher::Event::InitDone)).then_some(())
    })
    .await;

    models
        .create(&PostParams::default(), &model("m1", "1.0"))
        .await
        .unwrap();
    let added = next_where(&mut stream, "m1 applied", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        _ => None,
    })
    .await;
    assert_eq!(added.data["spec"]["version"], "1.0");
    assert!(
        reader
            .get(&reflector::ObjectRef::new_with("m1", ar.clone()).within("default"))
            .is_some()
    );

    let patch = json!({"spec": {"description": "changed"}});
    models
        .patch("m1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let modified = next_where(&mut stream, "m1 modified", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        _ => None,
    })
    .await;
    assert_eq!(modified.data["spec"]["description"], "changed");
    assert_eq!(modified.metadata.generation, Some(2));

    models.delete("m1", &DeleteParams::default()).await.unwrap();
    next_where(&mut stream, "m1 deleted", |e| {
        matches!(e, Ok(watcher::Event::Delete(_))).then_some(())
    })
    .await;
    assert!(
        reader
            .get(&reflector::ObjectRef::new_with("m1", ar.clone()).within("default"))
            .is_none()
    );

    // Pods through a raw watch, to see the event types themselves.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = pods
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .unwrap()
        .boxed();
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p", "labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": "127.0.0.2"}});
    pods.patch_status("p", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = next_where(&mut events, "pod events", |e| match e.unwrap() {
            WatchEvent::Added(p) => Some(("ADDED", p)),
            WatchEvent::Modified(p) => Some(("MODIFIED", p)),
            WatchEvent::Deleted(p) => Some(("DELETED", p)),
            _ => None,
        })
        .await;
        seen.push(e);
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(
        seen[0].1.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert_eq!(
        seen[1].1.status.as_ref().unwrap().pod_ip.as_deref(),
        Some("127.0.0.2")
    );
}

#[tokio::test]
async fn a_watcher_whose_version_expired_relists_once_and_keeps_watching() {
    let emu = start(&["--history", "20"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |name: &str, labels: Value| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
        )
        .unwrap()
    };
    // A list page's continue token, to expire below.
    let admin = read_kubeconfig(&emu.admin_kubeconfig()).unwrap();
    for i in 0..2 {
        cms.create(&PostParams::default(), &cm(&format!("page-{i}"), json!({})))
            .await
            .unwrap();
    }
    let (code, body) = get(&admin, "/api/v1/namespaces/default/configmaps?limit=1").unwrap();
    assert_eq!(code, 200);
    let page: Value = serde_json::from_str(&body).unwrap();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let stale_rv = page["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    // Short watches, so the watcher resumes from its last version while nothing it selects
    // changes; bookmarks come every 10 s, later than this test needs them.
    let cfg = watcher::Config::default().labels("app=watched").timeout(1);
    let mut stream = watcher(cms.clone(), cfg).boxed();
    let mut inits = 0;
    next_where(&mut stream, "first InitDone", |e| match e {
        Ok(watcher::Event::Init) => {
            inits += 1;
            None
        }
        Ok(watcher::Event::InitDone) => Some(()),
        _ => None,
    })
    .await;
    for i in 0..40 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("noise-{i}"), json!({"app": "noise"})),
        )
        .await
        .unwrap();
    }
    // The watcher's version is now older than the 20 kept events: 410, then a fresh list.
    next_where(&mut stream, "second InitDone after 410", |e| match e {
        Ok(watcher::Event::Init) => {
            inits += 1;
            None
        }
        Ok(watcher::Event::InitDone) => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(inits, 2);
    cms.create(
        &PostParams::default(),
        &cm("watched-1", json!({"app": "watched"})),
    )
    .await
    .unwrap();
    let got = next_where(&mut stream, "watched-1 through the watch", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        Ok(watcher::Event::Init) => panic!("re-listed again instead of watching"),
        _ => None,
    })
    .await;
    assert_eq!(got.metadata.name.as_deref(), Some("watched-1"));

    // A raw watch from the stale version gets the ERROR event with 410.
    let mut raw = cms
        .watch(&WatchParams::default(), &stale_rv)
        .await
        .unwrap()
        .boxed();
    let err = next_where(&mut raw, "410", |e| match e.unwrap() {
        WatchEvent::Error(s) => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(err.code, 410);
    assert_eq!(err.reason, "Expired");
    // And the list page's continue token has expired the same way.
    let (code, body) = get(
        &admin,
        &format!("/api/v1/namespaces/default/configmaps?limit=1&continue={token}"),
    )
    .unwrap();
    assert_eq!(code, 410, "{body}");
}

#[tokio::test]
async fn streaming_lists_bookmarks_and_selectors() {
    let emu = start(&["--bookmark-seconds", "1"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, app, node) in [("a", "web", "n1"), ("b", "db", "n2")] {
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}}))
            .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let names = |list: kube::core::ObjectList<Pod>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect()
    };
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app in (web,cache)"))
                .await
                .unwrap()
        ),
        ["a"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app,app!=web"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert!(
        names(
            pods.list(&ListParams::default().labels("!app"))
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=n2"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("status.phase=Pending,metadata.name!=a"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    let unsupported = status_of(
        pods.list(&ListParams::default().fields("spec.hostname=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (unsupported.code, unsupported.message.as_str()),
        (400, "field label not supported: spec.hostname")
    );
    // Paging.
    let page = pods.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = pods
        .list(
            &ListParams::default()
                .limit(1)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(rest), ["b"]);

    // A streaming list: the initial objects, then the end-of-initial-events bookmark.
    let cfg = watcher::Config::default()
        .streaming_lists()
        .labels("app=web");
    let mut stream = watcher(pods.clone(), cfg).boxed();
    let mut initial = Vec::new();
    next_where(&mut stream, "streamed InitDone", |e| match e.unwrap() {
        watcher::Event::InitApply(p) => {
            initial.push(p.metadata.name.unwrap());
            None
        }
        watcher::Event::InitDone => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(initial, ["a"]);

    // Bookmarks keep a quiet watch's version current.
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut raw = pods
        .watch(&WatchParams::default().fields("spec.nodeName=n1"), &rv)
        .await
        .unwrap()
        .boxed();
    let bookmark = next_where(&mut raw, "a bookmark", |e| match e.unwrap() {
        WatchEvent::Bookmark(b) => Some(b),
        _ => None,
    })
    .await;
    assert!(
        bookmark.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
    );
}
