use broker_core::service;

struct Greeter;

#[service(name = "greeter", verison = 1)]
impl Greeter {}

fn main() {}
