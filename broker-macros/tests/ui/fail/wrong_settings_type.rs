use broker_core::service;

struct Greeter;

struct Settings;

#[service(name = "greeter")]
impl Greeter {
    #[settings]
    fn settings(&self) -> Settings {
        Settings
    }
}

fn main() {}
