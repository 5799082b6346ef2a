use super::*;

#[test]
fn stat_with_spaces_and_parens_in_the_name() {
    // A real /proc/<pid>/stat of `python3 -c ...` renamed by prctl to "vllm (worker) 1".
    let text = "4242 (vllm (worker) 1) S 4200 4242 4200 0 -1 4194560 90113 0 0 0 731 112 0 0 20 0 7 0 123456 9871925248 463222 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 3 0 0 0 0 0";
    let s = parse_stat(text).unwrap();
    assert_eq!(
        s,
        Stat {
            pid: 4242,
            ppid: 4200,
            utime: 731,
            stime: 112,
            rss_pages: 463_222
        }
    );
}

#[test]
fn own_stat_parses() {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap();
    let s = parse_stat(&text).unwrap();
    assert_eq!(s.pid, std::process::id());
    assert!(s.rss_pages > 0);
}

#[test]
fn tree_of_a_shell_pipeline() {
    let st = |pid, ppid| Stat {
        pid,
        ppid,
        utime: 0,
        stime: 0,
        rss_pages: 1,
    };
    let stats = [
        st(1, 0),
        st(10, 1),
        st(11, 10),
        st(12, 10),
        st(13, 12),
        st(20, 1),
    ];
    assert_eq!(
        process_tree(10, &stats).into_iter().collect::<Vec<_>>(),
        [10, 11, 12, 13]
    );
    assert!(process_tree(99, &stats).is_empty());
}

#[test]
fn container_ids_from_real_cgroup_layouts() {
    let id = "3f1c9a2e5b7d4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";
    let cases = [
        // cgroup v2, containerd via systemd driver (GKE, EKS)
        format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b1c7e2a_4f0d_4a51_9d77_2b0c3f1e9a10.slice/cri-containerd-{id}.scope"
        ),
        // cgroup v2, cgroupfs driver
        format!("0::/kubepods/burstable/pod6b1c7e2a-4f0d-4a51-9d77-2b0c3f1e9a10/{id}"),
        // cgroup v1, docker
        format!("12:memory:/docker/{id}\n11:cpu,cpuacct:/docker/{id}"),
        // CRI-O
        format!("0::/kubepods.slice/kubepods-pod1.slice/crio-{id}.scope"),
        // podman 4.3, `podman kube play` pod, cgroupfs manager, cgroup v1 + v2 hybrid (as read
        // from a container of the pod here): the pod's own id is a bare 64-hex segment above
        // the container's `libpod-<id>`
        format!(
            "9:name=systemd:/libpod_parent/38d4179b80923ef58c6222708ccd0861b00f63d29b6feaaef1f77a6ba32d16f6/libpod-{id}\n\
             4:memory:/libpod_parent/38d4179b80923ef58c6222708ccd0861b00f63d29b6feaaef1f77a6ba32d16f6/libpod-{id}\n\
             0::/libpod_parent/38d4179b80923ef58c6222708ccd0861b00f63d29b6feaaef1f77a6ba32d16f6/libpod-{id}"
        ),
        // podman, a container outside a pod
        format!("0::/libpod_parent/libpod-{id}"),
        // podman with the systemd manager
        format!("0::/machine.slice/libpod-{id}.scope"),
    ];
    for c in cases {
        assert_eq!(container_id(&c).as_deref(), Some(id), "{c}");
    }
    assert_eq!(
        container_id("0::/user.slice/user-1000.slice/session-2.scope"),
        None
    );
}

#[test]
fn own_environment_is_readable() {
    let env = read_env(
        Path::new("/proc"),
        std::process::id(),
        &["PATH", "NOPE_NOT_SET"],
    )
    .unwrap();
    assert!(env.contains_key("PATH"));
    assert!(!env.contains_key("NOPE_NOT_SET"));
}
