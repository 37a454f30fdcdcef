// Package config is samtal's configuration: the TOML file, its defaults,
// the command-line overrides and the validation that reports every mistake
// at once, each with the file, line and column it came from.
//
// The file format is documented by samtal.example.toml in this directory,
// which a test loads and validates. Every key is optional: Default is a
// working single-host server on loopback, and the file overlays it. Arrays
// replace the default arrays rather than extending them, and the [[host]]
// tables, when present, replace the default "localhost" host.
//
// # Problems
//
// Load and Parse decode the file in strict mode and then validate the
// result. Everything wrong is collected into a *Problems: syntax errors,
// unknown keys, values of the wrong type, and every check of Validate. A
// problem names its key the way the file spells it, with the index of an
// array element or array table in brackets, "host[1].cert" or
// "listen.c2s[0]"; when that key (or, failing that, the nearest enclosing
// table) is in the file, the problem carries its line and column.
//
// A syntax error stops decoding, since what follows it cannot be trusted.
// A value of the wrong type does not: the decoder drops that key-value
// (or table, when the table itself is wrong) and decodes again, so one
// run reports every such mistake.
//
// # Adding a section
//
// A later feature adds its section ([muc], [mam], [http], ...) as one
// struct type with `toml` tags, a field in Config, its defaults in
// Default, its keys in samtal.example.toml, and a
//
//	func (m MUC) Validate() error
//
// whose result Config.Validate hands to Problems.section with the
// section's name. Returning a *Problems with keys relative to the section
// ("max_rooms") lets each problem be located in the file; any other error
// (or each error of an errors.Join) becomes one problem keyed by the
// section. A feature package that owns its Config type (muc.Config) does
// the same: config composes it and never the other way round.
package config
