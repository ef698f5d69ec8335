use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Default for Greeter {
    fn default() -> Self {
        Greeter
    }
}

fn main() {}
