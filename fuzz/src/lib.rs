//! Fuzz targets for Switchyard's parsers, decoders and config loaders (see `targets`).

pub mod targets;
