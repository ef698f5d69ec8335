use broker_core::service;

struct Greeter;

#[service(version = 1)]
impl Greeter {}

fn main() {}
