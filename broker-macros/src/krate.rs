//! The path the generated code names the core by: `::broker_core` when the user's crate depends
//! on it, else the `broker` facade (which re-exports all of it), under whatever name the user's
//! Cargo.toml gives either — so a crate that adds only `broker` compiles.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote;

/// `::broker_core`, `::broker` or the name the user renamed either to.
pub(crate) fn core_path() -> TokenStream {
    // `Itself` is the package's own tests, examples and doctests, which see the library under
    // its crate name (neither library uses these macros inside itself).
    let found = |package: &str, crate_ident: &str| match crate_name(package) {
        Ok(FoundCrate::Itself) => Some(crate_ident.to_owned()),
        Ok(FoundCrate::Name(name)) => Some(name),
        Err(_) => None,
    };
    let name = found("broker-core", "broker_core")
        .or_else(|| found("broker", "broker"))
        .unwrap_or_else(|| "broker_core".to_owned());
    let ident = syn::Ident::new(&name, Span::call_site());
    quote!(::#ident)
}
