//! The `Codec` trait: typed message <-> bytes.
