package controller

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/podpilot/podpilot/metrics"
	"github.com/podpilot/podpilot/policy"
)

// Config is the daemon's configuration file. config.example.yaml documents every field with its default.
type Config struct {
	Prometheus     PrometheusConfig `yaml:"prometheus"`
	Policies       []string         `yaml:"policies"` // policy files and directories
	Interval       time.Duration    `yaml:"interval"`
	Reload         time.Duration    `yaml:"reload"`
	Listen         string           `yaml:"listen"`
	DryRun         bool             `yaml:"dryRun"`
	Log            LogConfig        `yaml:"log"`
	LeaderElection LeaderConfig     `yaml:"leaderElection"`
	Kube           KubeConfig       `yaml:"kube"`

	// HTTP is prometheus.http decoded: Prometheus's own HTTP client settings (auth, TLS, headers).
	HTTP promconfig.HTTPClientConfig `yaml:"-"`
}

// PrometheusConfig says where and how to query Prometheus.
type PrometheusConfig struct {
	Address string        `yaml:"address"`
	Timeout time.Duration `yaml:"timeout"`
	MaxAge  time.Duration `yaml:"maxAge"`
	// HTTP is in the format of Prometheus's own configuration (basic_auth, authorization, tls_config,
	// http_headers, proxy_url, ...), so that a block can be copied from a scrape config.
	HTTP yaml.Node `yaml:"http"`
}

// LogConfig sets the logger.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json, console, or auto: json in a cluster, console elsewhere
}

// LeaderConfig configures leader election through a coordination.k8s.io Lease.
type LeaderConfig struct {
	Enabled       bool          `yaml:"enabled"`
	Namespace     string        `yaml:"namespace"`
	Name          string        `yaml:"name"`
	LeaseDuration time.Duration `yaml:"leaseDuration"`
	RenewDeadline time.Duration `yaml:"renewDeadline"`
	RetryPeriod   time.Duration `yaml:"retryPeriod"`
}

// KubeConfig says how to reach the API server.
type KubeConfig struct {
	Kubeconfig string  `yaml:"kubeconfig"` // empty: in-cluster, or $KUBECONFIG
	QPS        float64 `yaml:"qps"`
	Burst      int     `yaml:"burst"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		Prometheus: PrometheusConfig{Address: "http://prometheus-operated.monitoring.svc:9090", Timeout: metrics.DefaultTimeout, MaxAge: metrics.DefaultMaxAge},
		Policies:   []string{"/etc/podpilot/policies"},
		Interval:   15 * time.Second,
		Reload:     10 * time.Second,
		Listen:     ":8080",
		Log:        LogConfig{Level: "info", Format: "auto"},
		LeaderElection: LeaderConfig{Enabled: true, Namespace: "podpilot", Name: "podpilot",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second},
		Kube: KubeConfig{QPS: 50, Burst: 100},
		HTTP: promconfig.DefaultHTTPClientConfig,
	}
}

// LoadConfig reads a configuration file over the defaults, strictly, reporting every problem with its position.
// Relative paths (policies, and files in prometheus.http) are relative to the file's directory.
func LoadConfig(file string) (Config, error) {
	c, at, err := ReadConfig(file)
	if err != nil {
		return c, err
	}
	return c, c.Validate(file, at)
}

// ReadConfig is LoadConfig without Validate: podpilot run applies its flags over the file before it validates, so
// that a flag can mend a value of the file. at locates each field the file set.
func ReadConfig(file string) (Config, policy.Where, error) {
	c := DefaultConfig()
	data, err := os.ReadFile(file)
	if err != nil {
		return c, nil, err
	}
	at, err := policy.DecodeYAML(file, data, &c)
	if err != nil {
		return c, nil, err
	}
	dir := filepath.Dir(file)
	for i, p := range c.Policies {
		if !filepath.IsAbs(p) {
			c.Policies[i] = filepath.Join(dir, p)
		}
	}
	if n := &c.Prometheus.HTTP; n.Kind != 0 {
		hc, err := httpConfig(file, data, n)
		if err != nil {
			return c, nil, err
		}
		hc.SetDirectory(dir)
		c.HTTP = *hc
	}
	return c, at, nil
}

// yamlLine finds the line numbers in the errors of Prometheus's YAML decoder.
var yamlLine = regexp.MustCompile(`^\s*(?:yaml: )?line (\d+): `)

// httpConfig decodes the prometheus.http block n of file with Prometheus's own decoder, as a scrape config's block
// would be, and gives each of its errors the line of the file it is on. The decoder reads the block's own text,
// cut out of the file, so that its line numbers count from the block's first line.
func httpConfig(file string, data []byte, n *yaml.Node) (*promconfig.HTTPClientConfig, error) {
	var text string
	flow := n.Style&yaml.FlowStyle != 0 || n.Kind != yaml.MappingNode || len(n.Content) == 0
	if !flow {
		// From the first key: an anchor or a tag before the block carries the node's own position.
		k := n.Content[0]
		text = block(string(data), k.Line, k.Column)
		var cut yaml.Node
		if yaml.Unmarshal([]byte(text), &cut) != nil || len(cut.Content) != 1 || len(cut.Content[0].Content) != len(n.Content) {
			flow = true // the cut is not the block (an alias, odd indentation): decode it re-encoded instead
		} else {
			n = &yaml.Node{Line: k.Line, Column: k.Column}
		}
	}
	if flow {
		b, err := yaml.Marshal(n) // one line, as a flow block usually is; its line 1 is the block's
		if err != nil {
			return nil, err
		}
		text = string(b)
	}
	hc, err := promconfig.LoadHTTPConfig(text)
	if err == nil {
		return hc, nil
	}
	var errs policy.Errors
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	for _, m := range strings.Split(msg, "\n") {
		e := &policy.Error{File: file, Line: n.Line, Col: n.Column, Path: "prometheus.http", Msg: strings.TrimSpace(m)}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			k, _ := strconv.Atoi(g[1])
			e.Line, e.Msg = n.Line+k-1, strings.TrimSpace(m[len(g[0]):])
			if lines := strings.Split(string(data), "\n"); n.Style&yaml.FlowStyle == 0 && e.Line <= len(lines) {
				l := lines[e.Line-1]
				e.Col = len(l) - len(strings.TrimLeft(l, " ")) + 1
			}
		}
		errs = append(errs, e)
	}
	return nil, errs.Err()
}

// block cuts the block mapping that starts at line and col (1-based) out of text: its lines up to the first one
// indented less, with the block's indentation removed, so that the result is the same YAML on its own.
func block(text string, line, col int) string {
	lines := strings.Split(text, "\n")[line-1:]
	var b strings.Builder
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		body := strings.TrimLeft(l, " ")
		indent := len(l) - len(body)
		if i > 0 && strings.TrimSpace(body) != "" && !strings.HasPrefix(body, "#") && indent < col-1 {
			break
		}
		if indent >= col-1 {
			b.WriteString(l[col-1:])
		} // a blank or comment line less indented: its line stays, empty
		b.WriteByte('\n')
	}
	return b.String()
}

// Validate checks the values, naming file in its errors, and the line of each bad field where at (which may be
// nil) knows it.
func (c *Config) Validate(file string, at policy.Where) error {
	var errs policy.Errors
	bad := func(path, format string, args ...any) {
		e := &policy.Error{File: file, Path: path, Msg: fmt.Sprintf(format, args...)}
		if at != nil {
			e.Line, e.Col = at(path)
		}
		errs = append(errs, e)
	}
	if u, err := url.Parse(c.Prometheus.Address); c.Prometheus.Address == "" {
		bad("prometheus.address", "required")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("prometheus.address", "want an http:// or https:// URL such as http://prometheus-operated.monitoring.svc:9090, got %q", c.Prometheus.Address)
	}
	if c.Prometheus.Timeout <= 0 {
		bad("prometheus.timeout", "must be more than 0s, got %s", c.Prometheus.Timeout)
	}
	if c.Prometheus.MaxAge <= 0 {
		bad("prometheus.maxAge", "must be more than 0s, got %s", c.Prometheus.MaxAge)
	}
	if len(c.Policies) == 0 {
		bad("policies", "name at least one policy file or directory")
	}
	if c.Interval < time.Second {
		bad("interval", "must be at least 1s, got %s", c.Interval)
	}
	if c.Reload < 100*time.Millisecond {
		bad("reload", "must be at least 100ms, got %s", c.Reload)
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("listen", "want a port from 0 to 65535, got %q", port)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console", "auto":
	default:
		bad("log.format", "want json, console or auto, got %q", c.Log.Format)
	}
	if le := c.LeaderElection; le.Enabled {
		if le.Namespace == "" || le.Name == "" {
			bad("leaderElection", "namespace and name are required when enabled")
		}
		if le.LeaseDuration < time.Second || le.LeaseDuration%time.Second != 0 {
			bad("leaderElection.leaseDuration", "must be a whole number of seconds (a Lease stores seconds), got %s", le.LeaseDuration)
		}
		// client-go's rules: leaseDuration > renewDeadline > retryPeriod × 1.2.
		if !(le.LeaseDuration > le.RenewDeadline && float64(le.RenewDeadline) > 1.2*float64(le.RetryPeriod) && le.RetryPeriod > 0) {
			bad("leaderElection", "want leaseDuration > renewDeadline > 1.2 × retryPeriod > 0, got %s, %s, %s", le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
		}
	}
	if c.Kube.QPS <= 0 {
		bad("kube.qps", "must be positive, got %g", c.Kube.QPS)
	}
	if c.Kube.Burst <= 0 {
		bad("kube.burst", "must be positive, got %d", c.Kube.Burst)
	}
	if err := c.HTTP.Validate(); err != nil {
		bad("prometheus.http", "%v", err)
	}
	return errs.Err()
}
