//! Kubeconfig files for the admin and for each ServiceAccount RBAC names, written atomically
//! (a reader never sees half a file).

use std::path::{Path, PathBuf};

use base64::Engine;

/// Where and for which server kubeconfigs are written.
#[derive(Debug, Clone)]
pub struct Kubeconfigs {
    /// The directory.
    pub dir: PathBuf,
    /// `https://host:port`.
    pub server: String,
    /// The CA certificate (PEM) clients must trust.
    pub ca_pem: String,
}

/// The file name of a ServiceAccount's kubeconfig.
pub fn account_file(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}.kubeconfig")
}

/// The admin kubeconfig's file name.
pub const ADMIN_FILE: &str = "admin.kubeconfig";

impl Kubeconfigs {
    /// The kubeconfig text for `user` with bearer `token`, default namespace `namespace`.
    pub fn render(&self, user: &str, token: &str, namespace: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        // JSON strings are valid YAML scalars, which keeps odd characters safe.
        let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: {}\n  user:\n    token: {}\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: {}\n    namespace: {}\ncurrent-context: emulator\n",
            q(&self.server),
            q(user),
            q(token),
            q(user),
            q(namespace),
        )
    }

    /// Writes `file` in the directory, atomically.
    pub fn write(
        &self,
        file: &str,
        user: &str,
        token: &str,
        namespace: &str,
    ) -> std::io::Result<PathBuf> {
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, self.render(user, token, namespace))?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// The path of a file in the directory.
    pub fn path(&self, file: &str) -> PathBuf {
        Path::new(&self.dir).join(file)
    }
}
