package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const azure = "../../testdata/traces/azure_functions_slopower_60s.csv"

func TestSimulateCmd(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	pol := write("web.yaml", "target: {namespace: shop, name: web}\nmaxReplicas: 60\nmetrics: [{kind: cpu, utilization: 70}]\n")
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"table", []string{"--recording", azure, "--capacity", "200", "--policy", "hpa", "--policy", pol}, 0, "cost (× lower bound)", ""},
		{"sweep", []string{"--recording", azure, "--capacity", "200", "--policy", "hpa", "--policy", "target-tracking", "--sweep", "metrics[0].utilization=60,80"}, 0,
			"at equal or lower cost than hpa's frontier points", ""},
		{"usage", []string{"--policy", "hpa"}, 2, "", "usage: podpilot simulate"},
		{"malformed row", []string{"--recording", write("m.csv", "timestamp,value\n1,2\n3\n"), "--capacity", "1", "--policy", "hpa"}, 1, "",
			"m.csv:3: malformed row: 1 fields, want 2 like the header"},
		{"non-numeric", []string{"--recording", write("n.csv", "timestamp,value\n1,2\n3,x\n"), "--capacity", "1", "--policy", "hpa"}, 1, "",
			`n.csv:3: value: want a number, got "x"`},
		{"NaN demand", []string{"--recording", write("nan.csv", "timestamp,value\n1,2\n3,NaN\n"), "--capacity", "1", "--policy", "hpa"}, 1, "",
			"nan.csv:3: value: want a number, got NaN (not allowed in this column)"},
		{"duplicate time", []string{"--recording", write("d.csv", "timestamp,value\n1,2\n1,3\n"), "--capacity", "1", "--policy", "hpa"}, 1, "",
			"d.csv:3: timestamp: duplicate of line 2 (1)"},
		{"empty", []string{"--recording", write("e.csv", ""), "--capacity", "1", "--policy", "hpa"}, 1, "", "e.csv: empty file"},
		{"prometheus error", []string{"--recording", "cpu=" + write("err.json", `{"status":"error","errorType":"timeout","error":"query timed out"}`), "--mode", "replay", "--policy", "hpa"}, 1, "",
			"err.json: Prometheus answered with an error: timeout: query timed out"},
		{"lacks a metric", []string{"--recording", "qps=" + write("q.json", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"5"],[16,"6"]]}]}}`), "--mode", "replay", "--policy", pol}, 1, "",
			`q.json: no series "cpu", which policy web needs for metrics[0] (the recording has "qps")`},
		{"explicit zero start-up", []string{"--recording", azure, "--capacity", "1", "--policy", "hpa", "--startup", "0s"}, 1, "", "--startup 0s: must be more than 0"},
		{"explicit zero scale", []string{"--recording", azure, "--capacity", "1", "--policy", "hpa", "--scale", "0"}, 1, "", "--scale 0: must be more than 0"},
		{"bad output before any file", []string{"--recording", azure, "--capacity", "1", "--policy", "hpa", "--output", "xml", "--out", filepath.Join(dir, "never")}, 1, "",
			`--output "xml": want table, json or csv`},
		{"plot in replay before any output", []string{"--recording", "cpu=" + write("r.csv", "timestamp,value\n0,50\n15,50\n"), "--mode", "replay", "--policy", pol, "--plot", filepath.Join(dir, "never.png")}, 1, "",
			"--plot needs --mode closed-loop"},
		{"NAME= renames a CSV's one series", []string{"--recording", "cpu=" + write("one.csv", "timestamp,value\n0,50\n15,50\n"), "--mode", "replay", "--policy", pol}, 0, "replay on", ""},
		{"NAME= on a CSV of two series", []string{"--recording", "cpu=" + write("two.csv", "timestamp,a,b\n0,1,2\n"), "--mode", "replay", "--policy", pol}, 1, "",
			"NAME= names one series, and " + filepath.Join(dir, "two.csv") + " has 2"},
		{"a path with =", []string{"--recording", write("cpu=x.csv", "timestamp,cpu\n0,50\n15,50\n"), "--mode", "replay", "--policy", pol}, 0, "replay on", ""},
		{"bad policy", []string{"--recording", azure, "--capacity", "1", "--policy", write("bad.yaml", "target: {namespace: a, name: b}\n")}, 1, "",
			"bad.yaml:1:1: maxReplicas: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(append([]string{"simulate"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("simulate %v = %d\nstdout: %.500s\nstderr: %s\nwant %d, stdout with %q, stderr with %q", tt.args, code, out.String(), errb.String(), tt.code, tt.out, tt.err)
			}
		})
	}
	for _, f := range []string{"never", "never.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a refused command still created %s", f)
		}
	}
}

// The JSON output follows the documented schema and CSV has one row per step and policy.
func TestSimulateOutputs(t *testing.T) {
	dir := t.TempDir()
	jsonFile, csvFile, png := filepath.Join(dir, "o.json"), filepath.Join(dir, "o.csv"), filepath.Join(dir, "o.png")
	args := []string{"simulate", "--recording", azure, "--capacity", "200", "--policy", "hpa", "--policy", "target-tracking"}
	var errb bytes.Buffer
	if code := dispatch(append(args, "--output", "json", "--out", jsonFile, "--plot", png), &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("json: exit %d: %s", code, errb.String())
	}
	if code := dispatch(append(args, "--output", "csv", "--out", csvFile), &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("csv: exit %d: %s", code, errb.String())
	}
	var rep struct {
		Schema   string `json:"schema"`
		Policies []struct {
			Name    string `json:"name"`
			Summary struct {
				CostRatio float64 `json:"costRatio"`
			} `json:"summary"`
			Steps []struct {
				Metrics map[string]*float64 `json:"metrics"`
			} `json:"steps"`
		} `json:"policies"`
	}
	data, _ := os.ReadFile(jsonFile)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != "podpilot.simulate/v1" || len(rep.Policies) != 2 || rep.Policies[1].Name != "target-tracking" ||
		len(rep.Policies[0].Steps) != 5757 || rep.Policies[0].Steps[100].Metrics["cpu"] == nil || rep.Policies[0].Summary.CostRatio <= 1 {
		t.Errorf("JSON report: schema %q, %d policies", rep.Schema, len(rep.Policies))
	}
	rows, _ := os.ReadFile(csvFile)
	if n := strings.Count(string(rows), "\n"); n != 1+2*5757 {
		t.Errorf("CSV has %d lines; want a header and 2 × 5757 steps", n)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 50000 {
		t.Errorf("plot: %v, %v", st, err)
	}
}

// --interval sets the interval in each policy, whose algorithms are built for it: the run is the one of a policy
// file that says that interval.
func TestSimulateIntervalFlag(t *testing.T) {
	body := "target: {namespace: shop, name: web}\nmaxReplicas: 60\nmetrics: [{kind: qps, perReplica: 70}]\n"
	a, b := filepath.Join(t.TempDir(), "web.yaml"), filepath.Join(t.TempDir(), "web.yaml")
	os.WriteFile(a, []byte(body), 0o644)
	os.WriteFile(b, []byte(body+"interval: 1m\n"), 0o644)
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		args = append([]string{"simulate", "--recording", azure, "--capacity", "200"}, args...)
		if code := dispatch(args, &out, &errb); code != 0 {
			t.Fatalf("%v = %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	flag, file := run("--policy", a, "--policy", "target-tracking", "--interval", "1m"), run("--policy", b, "--policy", "target-tracking", "--interval", "1m")
	if flag != file {
		t.Errorf("--interval 1m over a 15s policy:\n%s\nthe policy with interval: 1m:\n%s", flag, file)
	}
}

// --pass is the daemon's pass: by default its 15 s, on which a 20 s policy runs every pass, as the daemon runs it.
func TestSimulatePassFlag(t *testing.T) {
	run := func(want int, args ...string) (string, string) {
		var out, errb bytes.Buffer
		args = append([]string{"simulate", "--recording", azure, "--capacity", "200", "--policy", "target-tracking", "--interval", "20s"}, args...)
		if code := dispatch(args, &out, &errb); code != want {
			t.Fatalf("%v = %d, want %d: %s", args, code, want, errb.String())
		}
		return out.String(), errb.String()
	}
	note := "target-tracking: interval 20s, evaluated every 15s on the daemon's 15s passes (--pass)"
	def, _ := run(0)
	own, _ := run(0, "--pass", "20s")
	if !strings.Contains(def, note) || strings.Contains(own, note) || def == own {
		t.Errorf("default pass:\n%s\n--pass 20s:\n%s\nwant the note only in the first, and different runs", def, own)
	}
	if _, e := run(1, "--pass", "500ms"); !strings.Contains(e, "pass 500ms: want at least 1s") {
		t.Errorf("--pass 500ms: %s", e)
	}
}
