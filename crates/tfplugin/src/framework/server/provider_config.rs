//! Provider configuration: ValidateProviderConfig, ConfigureProvider and StopProvider.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::decode_dv;
use super::{FrameworkServer, TERMINATE};
use crate::framework::diag::Diagnostics;
use crate::framework::provider::{ConfigureRequest, Provider};
use crate::wire::proto::tfplugin6 as pb;

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = request.into_inner();
        self.serve("ValidateProviderConfig", "", async {
            let mut diags = Diagnostics::new();
            if let Some(config) = decode_dv(
                req.config.as_ref(),
                &self.provider_schema.implied_type(),
                "provider configuration",
                &mut diags,
            ) {
                self.provider_schema.validate_config(&config, &mut diags);
                self.provider.validate(&config, &mut diags);
            }
            (pb::validate_provider_config::Response::default(), diags)
        })
        .await
    }

    pub(super) async fn handle_configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = request.into_inner();
        self.serve("ConfigureProvider", "", async {
            let mut diags = Diagnostics::new();
            if let Some(config) = decode_dv(
                req.config.as_ref(),
                &self.provider_schema.implied_type(),
                "provider configuration",
                &mut diags,
            ) {
                let data = self
                    .provider
                    .configure(
                        ConfigureRequest {
                            config: &config,
                            terraform_version: &req.terraform_version,
                            stop: self.stop_token(),
                        },
                        &mut diags,
                    )
                    .await;
                let mut slot = match self.data.write() {
                    Ok(s) => s,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *slot = data.map(Arc::new);
            }
            (pb::configure_provider::Response::default(), diags)
        })
        .await
    }

    pub(super) async fn handle_stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        // Cancel what is in flight, and give later requests (a reattached
        // debug process lives on) a fresh token.
        let old = match self.stop.lock() {
            Ok(mut t) => std::mem::replace(&mut *t, TERMINATE.child_token()),
            Err(poisoned) => {
                std::mem::replace(&mut *poisoned.into_inner(), TERMINATE.child_token())
            }
        };
        old.cancel();
        tracing::info!("StopProvider: cancelling in-flight operations");
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}
