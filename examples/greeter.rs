//! The README's example: a service and a client, on the default runtime.

use ferrule::{Request, Response, Router, Status, rt};
use hello::greeter_client::GreeterClient;
use hello::greeter_server::{Greeter, GreeterServer};
use hello::{HelloReply, HelloRequest};

#[allow(missing_docs)]
pub mod hello {
    include!(concat!(env!("OUT_DIR"), "/hello.rs"));
}

struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    rt::block_on(async {
        let router = Router::new().add_service(GreeterServer::new(MyGreeter));
        let server = rt::serve("127.0.0.1:0", router).await?;
        let addr = server.local_addr().ok_or("no local address")?;

        let client = GreeterClient::new(rt::channel(&addr.to_string()));
        let request = HelloRequest {
            name: "ferrule".into(),
        };
        let reply = client.say_hello(request).await?;
        println!("{}", reply.into_inner().message);

        server.shutdown(std::time::Duration::from_secs(1)).await;
        Ok(())
    })
}
