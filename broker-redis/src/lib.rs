//! Redis transporter (in progress).
