//! The gRPC API (tonic) over the keystore.

mod limits;

use std::pin::Pin;

use futures_util::Stream;
use tonic::{Request, Response, Status};

use crate::keystore::{Archive, KeyError, KeyInfo, KeyKind};
pub use limits::Keychain as KeychainService;

use crate::pb::{self, keychain_server::Keychain};
use crate::Backends;

/// The service.
pub struct Service(pub Backends);

/// The service, ready to add to a tonic server: messages of at most 64 KiB, but for
/// Restore's, which may be as large as a whole backup; see [`KeychainService`].
pub fn server(backends: Backends) -> KeychainService {
    KeychainService::new(backends)
}

fn status(e: KeyError) -> Status {
    let message = e.to_string();
    match e {
        KeyError::NotFound => Status::not_found(message),
        KeyError::AlreadyExists => Status::already_exists(message),
        KeyError::InvalidParams(_) | KeyError::InvalidKey(_) | KeyError::Decryption => {
            Status::invalid_argument(message)
        }
        KeyError::WrongKeyType(_) => Status::failed_precondition(message),
        KeyError::Io(_) => Status::internal(message),
    }
}

fn info(k: KeyInfo) -> pb::KeyInfo {
    pb::KeyInfo {
        id: k.id,
        kind: k.kind.name().to_owned(),
    }
}

type KeyStream = Pin<Box<dyn Stream<Item = Result<pb::KeyInfo, Status>> + Send>>;

#[tonic::async_trait]
impl Keychain for Service {
    async fn generate(
        &self,
        r: Request<pb::GenerateRequest>,
    ) -> Result<Response<pb::KeyInfo>, Status> {
        let r = r.into_inner();
        let kind = KeyKind::parse(&r.kind).map_err(status)?;
        let k = self
            .0
            .run(&r.backend, move |s| s.generate(kind))
            .await
            .map_err(status)?;
        Ok(Response::new(info(k)))
    }

    async fn store(&self, r: Request<pb::StoreRequest>) -> Result<Response<pb::KeyInfo>, Status> {
        let r = r.into_inner();
        let k = self
            .0
            .run(&r.backend, move |s| s.store(&r.id, &r.pem))
            .await
            .map_err(status)?;
        Ok(Response::new(info(k)))
    }

    async fn get(&self, r: Request<pb::KeyRef>) -> Result<Response<pb::KeyInfo>, Status> {
        let r = r.into_inner();
        let k = self
            .0
            .run(&r.backend, move |s| s.get(&r.id))
            .await
            .map_err(status)?;
        Ok(Response::new(info(k)))
    }

    async fn delete(&self, r: Request<pb::KeyRef>) -> Result<Response<pb::Empty>, Status> {
        let r = r.into_inner();
        self.0
            .run(&r.backend, move |s| s.delete(&r.id))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }

    type ListStream = KeyStream;

    async fn list(&self, r: Request<pb::BackendRef>) -> Result<Response<KeyStream>, Status> {
        let r = r.into_inner();
        let keys = self.0.run(&r.backend, |s| s.list()).await.map_err(status)?;
        let stream = futures_util::stream::iter(keys.into_iter().map(|k| Ok(info(k))));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn sign(
        &self,
        r: Request<pb::SignRequest>,
    ) -> Result<Response<pb::SignResponse>, Status> {
        let r = r.into_inner();
        let signature = self
            .0
            .run(&r.backend, move |s| s.sign(&r.id, &r.data))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SignResponse { signature }))
    }

    async fn verify(
        &self,
        r: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let r = r.into_inner();
        let valid = self
            .0
            .run(&r.backend, move |s| s.verify(&r.id, &r.data, &r.signature))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::VerifyResponse { valid }))
    }

    async fn encrypt(
        &self,
        r: Request<pb::CryptRequest>,
    ) -> Result<Response<pb::CryptResponse>, Status> {
        let r = r.into_inner();
        let data = self
            .0
            .run(&r.backend, move |s| s.encrypt(&r.id, &r.data))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CryptResponse { data }))
    }

    async fn decrypt(
        &self,
        r: Request<pb::CryptRequest>,
    ) -> Result<Response<pb::CryptResponse>, Status> {
        let r = r.into_inner();
        let data = self
            .0
            .run(&r.backend, move |s| s.decrypt(&r.id, &r.data))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CryptResponse { data }))
    }

    async fn export(&self, r: Request<pb::KeyRef>) -> Result<Response<pb::Pem>, Status> {
        let r = r.into_inner();
        let pem = self
            .0
            .run(&r.backend, move |s| s.export(&r.id))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Pem { pem }))
    }

    async fn import(&self, r: Request<pb::ImportRequest>) -> Result<Response<pb::KeyInfo>, Status> {
        let r = r.into_inner();
        let k = self
            .0
            .run(&r.backend, move |s| s.import(&r.pem))
            .await
            .map_err(status)?;
        Ok(Response::new(info(k)))
    }

    async fn rotate(&self, r: Request<pb::KeyRef>) -> Result<Response<pb::KeyInfo>, Status> {
        let r = r.into_inner();
        let k = self
            .0
            .run(&r.backend, move |s| s.rotate(&r.id))
            .await
            .map_err(status)?;
        Ok(Response::new(info(k)))
    }

    async fn backup(
        &self,
        r: Request<pb::BackendRef>,
    ) -> Result<Response<pb::BackupArchive>, Status> {
        let r = r.into_inner();
        let archive = self
            .0
            .run(&r.backend, |s| s.backup())
            .await
            .map_err(status)?;
        let keys = archive
            .keys
            .into_iter()
            .map(|(id, pem)| pb::BackupKey { id, pem })
            .collect();
        Ok(Response::new(pb::BackupArchive {
            backend: r.backend,
            keys,
        }))
    }

    async fn restore(
        &self,
        r: Request<pb::BackupArchive>,
    ) -> Result<Response<pb::RestoreResponse>, Status> {
        let r = r.into_inner();
        let archive = Archive {
            keys: r.keys.into_iter().map(|k| (k.id, k.pem)).collect(),
        };
        let restored = self
            .0
            .run(&r.backend, move |s| s.restore(&archive))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::RestoreResponse {
            restored: restored as u32,
        }))
    }

    async fn health_check(
        &self,
        r: Request<pb::BackendRef>,
    ) -> Result<Response<pb::Empty>, Status> {
        let r = r.into_inner();
        self.0
            .run(&r.backend, |s| s.health_check())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::Empty {}))
    }
}
