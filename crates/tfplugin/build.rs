//! Build script: generates the tonic/prost code for the workspace's top-level `proto/*.proto`
//! with a vendored protoc, so building needs no system protobuf installation.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let wkt_include = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // proto3 `optional` is stable since protoc 3.15; the flag keeps older vendored builds working.
    config.protoc_arg("--experimental_allow_proto3_optional");

    tonic_prost_build::configure()
        .build_server(true)
        // The client is used by in-process tests (and is cheap to compile).
        .build_client(true)
        // Every RPC we do not override answers gRPC Unimplemented, which Terraform
        // understands ("Unsupported plugin method", or tolerated for optional RPCs).
        .generate_default_stubs(true)
        .compile_with_config(
            config,
            &["../../proto/tfplugin6.proto", "../../proto/plugin.proto"],
            &[
                "../../proto",
                wkt_include
                    .to_str()
                    .ok_or("non-UTF-8 protoc include path")?,
            ],
        )?;
    Ok(())
}
