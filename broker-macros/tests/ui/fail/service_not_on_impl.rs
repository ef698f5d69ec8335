use broker_core::service;

#[service(name = "greeter")]
struct Greeter;

fn main() {}
