//! Data sources: ValidateDataResourceConfig and ReadDataSource.

use tonic::{Request, Response, Status};

use super::FrameworkServer;
use super::convert::{decode_dv, encode_dv};
use crate::framework::data_source::DataSourceReadRequest;
use crate::framework::diag::Diagnostics;
use crate::framework::plan::finish_state;
use crate::framework::provider::Provider;
use crate::wire::proto::tfplugin6 as pb;

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve(
            "ValidateDataResourceConfig",
            &req.type_name.clone(),
            async {
                let mut diags = Diagnostics::new();
                if let Some((ds, schema)) = self.data_source(&req.type_name, &mut diags)
                    && let Some(config) = decode_dv(
                        req.config.as_ref(),
                        &schema.implied_type(),
                        "configuration",
                        &mut diags,
                    )
                {
                    schema.validate_config(&config, &mut diags);
                    ds.validate(&config, &mut diags);
                }
                (
                    pb::validate_data_resource_config::Response::default(),
                    diags,
                )
            },
        )
        .await
    }

    pub(super) async fn handle_read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = request.into_inner();
        self.serve("ReadDataSource", &req.type_name.clone(), async {
            let mut diags = Diagnostics::new();
            let mut resp = pb::read_data_source::Response::default();
            let Some((ds, schema)) = self.data_source(&req.type_name, &mut diags) else {
                return (resp, diags);
            };
            let ty = schema.implied_type();
            if let Some(config) = decode_dv(req.config.as_ref(), &ty, "configuration", &mut diags) {
                schema.validate_config(&config, &mut diags);
                if !diags.has_error()
                    && let Some(data) = self.configured(&mut diags) {
                        let read = ds
                            .read(&data, DataSourceReadRequest { config: &config, stop: self.stop_token() }, &mut diags)
                            .await;
                        if let Some(mut state) = read {
                            if finish_state(schema, &mut state) && !diags.has_error() {
                                diags.error("Provider Returned Unknown Values", "The data source left values unknown. This is a provider bug; please report it.");
                            }
                            resp.state = encode_dv(&state, &ty, "data source state", &mut diags);
                        }
                    }
            }
            (resp, diags)
        })
        .await
    }
}
