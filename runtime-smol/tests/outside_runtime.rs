//! ferrule-smol from plain `fn main`, with no `block_on` of smol's: async-io
//! starts its reactor thread on first use.

use std::sync::Arc;

#[test]
fn serve_and_channel_work_outside_any_runtime() {
    ferrule_testsuite::outside::serve_and_call(
        Arc::new(ferrule_smol::SmolRuntime),
        |router| ferrule_smol::serve("127.0.0.1:0", router),
        ferrule_smol::channel,
    );
}
