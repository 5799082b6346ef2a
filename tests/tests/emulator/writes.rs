//! Writes: conflicts, server-side apply, status isolation, deletion.

use super::*;

#[tokio::test]
async fn stale_updates_conflict_and_errors_are_status_objects() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let original: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap();
    let created = cms.create(&PostParams::default(), &original).await.unwrap();
    let mut fresh = created.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = cms
        .replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    let mut stale = created.clone();
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    let conflict = status_of(
        cms.replace("c", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("the object has been modified"),
        "{}",
        conflict.message
    );
    let exists = status_of(
        cms.create(&PostParams::default(), &original)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(exists.message, "configmaps \"c\" already exists");
    let missing = status_of(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "configmaps \"nope\" not found")
    );
    let in_missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let no_ns = status_of(
        in_missing_ns
            .create(&PostParams::default(), &original)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (no_ns.code, no_ns.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["a"], "2");
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_bumps_generation_on_spec_changes_only() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &models_resource());
    let pp = PatchParams::apply("agentlens-test");
    let config = |version: &str, labels: Value, status: Option<Value>| {
        let mut v = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "ssa", "labels": labels}, "spec": {"version": version}});
        if let Some(s) = status {
            v["status"] = s;
        }
        v
    };
    let created = models
        .patch("ssa", &pp, &Patch::Apply(config("1.0", json!({}), None)))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["agentlens-test"]);
    let same = models
        .patch("ssa", &pp, &Patch::Apply(config("1.0", json!({}), None)))
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version, created.metadata.resource_version,
        "a no-op apply writes nothing"
    );
    let labelled = models
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(config("1.0", json!({"team": "a"}), None)),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    assert_ne!(
        labelled.metadata.resource_version,
        created.metadata.resource_version
    );
    // Status in a main-resource apply is ignored: Models have a status subresource.
    let status = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Resolved", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let spec_changed = models
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(config("2.0", json!({"team": "a"}), Some(status.clone()))),
        )
        .await
        .unwrap();
    assert_eq!(spec_changed.metadata.generation, Some(2));
    assert!(
        spec_changed
            .data
            .get("status")
            .is_none_or(|s| s.get("conditions").is_none())
    );
    let status_apply = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "Model", "metadata": {"name": "ssa"}, "status": status});
    let with_status = models
        .patch_status(
            "ssa",
            &PatchParams::apply("agentlens-status"),
            &Patch::Apply(status_apply),
        )
        .await
        .unwrap();
    assert_eq!(with_status.metadata.generation, Some(2));
    assert_eq!(with_status.data["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(with_status.data["spec"]["version"], "2.0");
    // Another manager changing an owned field conflicts unless it forces.
    let other = PatchParams::apply("someone-else");
    let conflict = status_of(
        models
            .patch("ssa", &other, &Patch::Apply(config("3.0", json!({}), None)))
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert!(
        conflict
            .message
            .contains("conflict with \"agentlens-test\": .spec.version"),
        "{}",
        conflict.message
    );
    let forced = models
        .patch(
            "ssa",
            &other.force(),
            &Patch::Apply(config("3.0", json!({}), None)),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["version"], "3.0");
    assert_eq!(forced.metadata.generation, Some(3));
    // Apply with no field manager is refused as the real server refuses it.
    let anonymous = PatchParams {
        field_manager: None,
        ..PatchParams::default()
    };
    let missing = status_of(
        models
            .patch(
                "ssa",
                &anonymous,
                &Patch::Apply(config("4.0", json!({}), None)),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(missing.code, 422);
}

#[tokio::test]
async fn status_and_main_resource_writes_are_isolated() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &models_resource());
    let created = models
        .create(&PostParams::default(), &model("iso", "1.0"))
        .await
        .unwrap();
    // Status written through the main resource is dropped.
    let mut with_status = created.clone();
    with_status.data["status"] = json!({"observedGeneration": 7});
    with_status.data["spec"]["description"] = json!("d");
    let replaced = models
        .replace("iso", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert!(replaced.data["status"]["observedGeneration"].is_null());
    assert_eq!(replaced.metadata.generation, Some(2));
    // Spec written through /status is dropped; status is kept; generation stays.
    let mut via_status = replaced.clone();
    via_status.data["spec"]["version"] = json!("9.9");
    via_status.data["status"] = json!({"observedGeneration": 2});
    let status_written = models
        .replace_status("iso", &PostParams::default(), &via_status)
        .await
        .unwrap();
    assert_eq!(status_written.data["spec"]["version"], "1.0");
    assert_eq!(status_written.data["status"]["observedGeneration"], 2);
    assert_eq!(status_written.metadata.generation, Some(2));
    let merge = json!({"status": {"observedGeneration": 3}, "spec": {"version": "5.0"}});
    let patched = models
        .patch_status("iso", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    assert_eq!(
        (
            patched.data["spec"]["version"].as_str(),
            patched.data["status"]["observedGeneration"].as_i64()
        ),
        (Some("1.0"), Some(3))
    );
}

#[tokio::test]
async fn deletion_follows_finalizers_owners_and_namespaces() {
    use k8s_openapi::api::core::v1::Namespace;
    let emu = start(&["--max-body", "4096"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |v: Value| -> ConfigMap { serde_json::from_value(v).unwrap() };

    cms.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(status_of(cms.get("held").await.unwrap_err()).code, 404);

    let owner = cms
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "owner"}})),
        )
        .await
        .unwrap();
    let owner_ref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.unwrap()}]);
    cms.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "child", "ownerReferences": owner_ref}})),
    )
    .await
    .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(status_of(cms.get("child").await.unwrap_err()).code, 404);

    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": format!("batch-{i}"), "labels": {"batch": "yes"}}})),
        )
        .await
        .unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("batch=yes"),
    )
    .await
    .unwrap();
    assert!(
        cms.list(&ListParams::default().labels("batch=yes"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let too_big = cm(json!({"metadata": {"name": "big"}, "data": {"k": "x".repeat(8192)}}));
    assert_eq!(
        status_of(
            cms.create(&PostParams::default(), &too_big)
                .await
                .unwrap_err()
        )
        .code,
        413
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap(),
        )
        .await
        .unwrap();
    let in_t: Api<ConfigMap> = Api::namespaced(client.clone(), "t");
    in_t.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "inside"}})),
    )
    .await
    .unwrap();
    let rv = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = namespaces
        .watch(&WatchParams::default().fields("metadata.name=t"), &rv)
        .await
        .unwrap()
        .boxed();
    namespaces
        .delete("t", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = next_where(&mut events, "t terminating", |e| match e.unwrap() {
        WatchEvent::Modified(n) => Some(n),
        _ => None,
    })
    .await;
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let refused = status_of(
        in_t.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "late"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(refused.code, 403);
    assert!(
        refused.message.contains("because it is being terminated"),
        "{}",
        refused.message
    );
    next_where(&mut events, "t deleted", |e| {
        matches!(e.unwrap(), WatchEvent::Deleted(_)).then_some(())
    })
    .await;
    assert_eq!(status_of(in_t.get("inside").await.unwrap_err()).code, 404);

    // pods/log returns the pod's log annotation.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "logged", "annotations": {agentlens_tests::emulator::LOG_ANNOTATION: "line one\nline two\n"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        pods.logs("logged", &Default::default()).await.unwrap(),
        "line one\nline two\n"
    );
}
