//! The model registry: `models.toml` in the data directory records each model's file,
//! SHA-256 and size; loading refuses a file whose hash or size changed (model integrity).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};
use crate::model::{LocalModel, ModelInfo, inspect};

/// File name of the registry inside the data directory.
pub const REGISTRY_FILE: &str = "models.toml";

/// One registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Name used in routing (`model = "smollm2"`).
    pub name: String,
    /// Path of the GGUF file, absolute.
    pub file: PathBuf,
    /// Lowercase hex SHA-256 of the file when it was added.
    pub sha256: String,
    /// Size in bytes when it was added.
    pub size: u64,
    /// `general.architecture` of the file.
    pub architecture: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    /// The registered models, in the order they were added.
    #[serde(default)]
    model: Vec<ModelEntry>,
}

/// The registry of one data directory.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    file: RegistryFile,
}

impl Registry {
    /// Opens `DATA_DIR/models.toml` (an absent file is an empty registry).
    ///
    /// # Errors
    /// `Io` when the file cannot be read; `Registry` when it is not valid.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(REGISTRY_FILE);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                Error::new(
                    ErrorKind::Registry,
                    format!("invalid `{}`: {}", path.display(), e.message()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile::default(),
            Err(e) => return Err(io_error(&path, &e)),
        };
        Ok(Self { path, file })
    }

    /// The registered models.
    #[must_use]
    pub fn models(&self) -> &[ModelEntry] {
        &self.file.model
    }

    /// Validates a GGUF file, records its hash and size under `name` (replacing an entry of
    /// the same name) and saves the registry.
    ///
    /// # Errors
    /// `Io` when the file cannot be read or the registry written; `InvalidModel` when the
    /// file is not a supported GGUF model; `Registry` for an empty name.
    pub fn add(&mut self, name: &str, file: &Path) -> Result<(ModelEntry, ModelInfo), Error> {
        if name.trim().is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::new(
                ErrorKind::Registry,
                format!("model name `{name}` is empty or has whitespace"),
            ));
        }
        let file = std::fs::canonicalize(file).map_err(|e| io_error(file, &e))?;
        let bytes = std::fs::read(&file).map_err(|e| io_error(&file, &e))?;
        let info = inspect(&bytes)
            .map_err(|e| Error::new(e.kind(), format!("`{}`: {e}", file.display())))?;
        let entry = ModelEntry {
            name: name.to_owned(),
            file,
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            architecture: info.architecture.clone(),
        };
        self.file.model.retain(|m| m.name != name);
        self.file.model.push(entry.clone());
        self.save()?;
        Ok((entry, info))
    }

    /// Loads a registered model after checking its size and SHA-256 against the registry.
    /// The bytes hashed are the bytes loaded, so the file cannot change in between.
    ///
    /// # Errors
    /// `Registry` for an unknown name; `IntegrityMismatch` when the file changed; `Io`,
    /// `InvalidModel` otherwise.
    pub fn load(&self, name: &str) -> Result<LocalModel, Error> {
        let entry = self
            .file
            .model
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| Error::new(ErrorKind::Registry, format!("no model named `{name}`")))?;
        load_verified(&entry.file, &entry.sha256, entry.size)
    }

    fn save(&self) -> Result<(), Error> {
        let text = toml::to_string_pretty(&self.file)
            .map_err(|e| Error::new(ErrorKind::Registry, format!("cannot encode registry: {e}")))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        }
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| io_error(&tmp, &e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io_error(&self.path, &e))
    }
}

/// Loads a GGUF file only if its size and SHA-256 are the expected ones.
///
/// # Errors
/// `IntegrityMismatch` when they differ; `Io` or `InvalidModel` otherwise.
pub fn load_verified(file: &Path, sha256: &str, size: u64) -> Result<LocalModel, Error> {
    let bytes = std::fs::read(file).map_err(|e| io_error(file, &e))?;
    if bytes.len() as u64 != size || !sha256_hex(&bytes).eq_ignore_ascii_case(sha256) {
        return Err(Error::new(
            ErrorKind::IntegrityMismatch,
            format!(
                "model file `{}` changed since it was registered (sha-256 or size differs): refused",
                file.display()
            ),
        ));
    }
    LocalModel::from_gguf_bytes(&bytes)
}

/// Lowercase hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("`{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn add_refuses_a_file_that_is_not_gguf() {
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.gguf");
        std::fs::write(&bogus, b"not a model at all").unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let err = reg.add("bogus", &bogus).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModel);
        assert!(reg.models().is_empty());
        assert!(!dir.path().join(REGISTRY_FILE).exists());
    }

    #[test]
    fn unknown_model_and_bad_registry_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        assert_eq!(reg.load("nope").unwrap_err().kind(), ErrorKind::Registry);
        std::fs::write(dir.path().join(REGISTRY_FILE), "[[model]]\nname = 1\n").unwrap();
        assert_eq!(
            Registry::open(dir.path()).unwrap_err().kind(),
            ErrorKind::Registry
        );
    }
}
