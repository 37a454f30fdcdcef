package config

// Overrides are the settings the command line can override. Empty strings
// and nil slices and pointers leave the configuration as it is.
type Overrides struct {
	// Domain replaces every host with a single host of that domain, with
	// the defaults of a host: a self-signed certificate and the default
	// registration policy.
	Domain         string
	DataDir        string
	Registration   string
	LogLevel       string
	C2S, C2STLS    []string // replace listen.c2s and listen.c2s_tls
	WebHTTPS       []string // replaces web.https
	Admin          string
	AllowPlaintext *bool
}

// Apply overrides the settings of c that o sets. Problems that Validate
// then finds with them name the command line rather than the file.
func (o Overrides) Apply(c *Config) {
	if o.Domain != "" {
		c.Hosts = []Host{{Domain: o.Domain}}
		c.src = c.src.override("host")
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
		c.src = c.src.override("data_dir")
	}
	if o.Registration != "" {
		c.Registration = Policy(o.Registration)
		c.src = c.src.override("registration")
	}
	if o.LogLevel != "" {
		c.LogLevel = o.LogLevel
		c.src = c.src.override("log_level")
	}
	if o.C2S != nil {
		c.Listen.C2S = append([]string(nil), o.C2S...)
		c.src = c.src.override("listen.c2s")
	}
	if o.C2STLS != nil {
		c.Listen.C2STLS = append([]string(nil), o.C2STLS...)
		c.src = c.src.override("listen.c2s_tls")
	}
	if o.WebHTTPS != nil {
		c.Web.HTTPS = append([]string(nil), o.WebHTTPS...)
		c.src = c.src.override("web.https")
	}
	if o.Admin != "" {
		c.Listen.Admin = o.Admin
		c.src = c.src.override("listen.admin")
	}
	if o.AllowPlaintext != nil {
		c.Listen.AllowPlaintext = *o.AllowPlaintext
		c.src = c.src.override("listen.allow_plaintext")
	}
}
