//! RBAC: ServiceAccount kubeconfigs authorized by the applied Roles and bindings only.

use super::*;

#[tokio::test]
async fn service_account_tokens_are_authorized_by_the_applied_rbac_only() {
    let emu = start(&[]);
    let Some(admin) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    admin.ok(&["apply", "-f", "crds/manifests/"]);
    admin.ok(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/rbac-reader.yaml",
    ]);
    let kubeconfig = emu.kubeconfig_for("team", "reader");
    assert!(
        kubeconfig.is_file(),
        "no kubeconfig written for team/reader"
    );
    let sa = Kubectl::find(kubeconfig.clone()).unwrap();
    assert!(sa.ok(&["get", "pods", "-n", "team"]).is_empty());
    sa.ok(&["get", "models", "-n", "team"]);
    sa.ok(&["get", "evaluations", "-A"]);
    let denied = sa.fails(&["get", "configmaps", "-n", "team"]);
    assert!(
        denied.contains("configmaps is forbidden: User \"system:serviceaccount:team:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team\""),
        "{denied}"
    );
    let cluster = sa.fails(&["get", "models", "-A"]);
    assert!(
        cluster.contains("models.agentlens.dev is forbidden: User \"system:serviceaccount:team:reader\" cannot list resource \"models\" in API group \"agentlens.dev\" at the cluster scope"),
        "{cluster}"
    );
    sa.fails(&["get", "pods", "-n", "default"]);

    let client = client(&kubeconfig).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let forbidden = status_of(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        (forbidden.code, forbidden.reason.as_str()),
        (403, "Forbidden")
    );
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .unwrap();
    let create = status_of(pods.create(&PostParams::default(), &pod).await.unwrap_err());
    assert_eq!(create.code, 403);
    assert!(
        create.message.contains("cannot create resource \"pods\""),
        "{}",
        create.message
    );
    // A subresource grant covers only the subresource.
    let ads: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team",
        &ApiResource {
            group: "agentlens.dev".into(),
            version: "v1alpha1".into(),
            api_version: "agentlens.dev/v1alpha1".into(),
            kind: "AgentDeployment".into(),
            plural: "agentdeployments".into(),
        },
    );
    let main = status_of(
        ads.patch("x", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(main.code, 403);
    let sub = status_of(
        ads.patch_status("x", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        sub.code, 404,
        "allowed, and then not found: {}",
        sub.message
    );
}
