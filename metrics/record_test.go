package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podpilot/podpilot/policy"
)

// Record pulls each metric's series with query_range at the policy's step, and what it writes reads back as the
// same recording.
func TestRecord(t *testing.T) {
	start := time.Unix(1_782_900_000, 0)
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		seen = append(seen, r.URL.Path+" step="+r.Form.Get("step")+" lookback_delta="+r.Form.Get("lookback_delta"))
		var vals []string
		for i := 0; i < 5; i++ {
			v := fmt.Sprint(10 * (i + 1))
			if strings.Contains(q, "http_requests_total") {
				v = fmt.Sprint(100 + i)
			} else if i == 3 {
				continue // no cpu sample at +45 s: the instant query there would be empty
			}
			vals = append(vals, fmt.Sprintf(`[%d,%q]`, start.Unix()+int64(15*i), v))
		}
		series := `{"metric":{"namespace":"shop","target":"web"},"values":[` + strings.Join(vals, ",") + `]}`
		if strings.Contains(q, "broken") {
			series += "," + strings.Replace(series, `"web"`, `"api"`, 1)
		}
		warn := ""
		if strings.Contains(q, "http_requests_total") {
			warn = `"warnings":["remote read: partial response"],`
		}
		fmt.Fprintf(w, `{"status":"success",%s"data":{"resultType":"matrix","result":[%s]}}`, warn, series)
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("web.yaml", []byte("target: {namespace: shop, name: web}\nmaxReplicas: 9\nmetrics: [{kind: cpu, utilization: 50}, {kind: qps, perReplica: 10}]\n"), policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.Record(context.Background(), p, start, start.Add(time.Minute), p.Interval)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteCSV(&b, rec)
	want := "timestamp,cpu,qps\n1782900000,10,100\n1782900015,20,101\n1782900030,30,102\n1782900045,NaN,103\n1782900060,50,104\n"
	if b.String() != want {
		t.Errorf("recording =\n%s\nwant\n%s", b.String(), want)
	}
	if len(seen) != 2 || seen[0] != "/api/v1/query_range step=15 lookback_delta=1m0s" {
		t.Errorf("requests = %v; want two range queries at the policy's 15 s step, looking back maxAge as the daemon does", seen)
	}
	if len(rec.Warnings) != 1 || !strings.HasPrefix(rec.Warnings[0], "metric qps: Prometheus warned: remote read: partial response (query: ") {
		t.Errorf("Warnings = %q; want qps's partial response", rec.Warnings)
	}
	back, err := ParseCSV("again.csv", &b)
	if err != nil || back.Lookup("cpu") != 0 || back.Lookup("qps") != 1 || len(back.Times) != 5 {
		t.Errorf("the recording does not read back: %v", err)
	}

	bad, _ := policy.Parse("b.yaml", []byte("target: {namespace: shop, name: web}\nmaxReplicas: 9\nmetrics: [{kind: promql, name: b, query: 'broken', total: 1}]\n"), policy.Builtin())
	if _, err := c.Record(context.Background(), bad, start, start.Add(time.Minute), 15*time.Second); err == nil ||
		!strings.Contains(err.Error(), "record shop/web metric b: 2 series over the range, want 1 (query: broken)") {
		t.Errorf("Record with two series = %v", err)
	}
}

// RecordReplay adds the target's spec replicas, its ready pods and the pods each reading covered; a count query
// that finds nothing leaves its column out with a note, and a bad one is an error that names its flag.
func TestRecordReplay(t *testing.T) {
	start := time.Unix(1_782_900_000, 0)
	var empty, twice string // queries answered with no series, or with two
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		var vals []string
		for i := range 5 {
			v := "100"
			switch {
			case strings.Contains(q, "kube_deployment_spec_replicas"):
				v = "4"
			case strings.Contains(q, "kube_deployment_status_replicas_ready"):
				v = "4"
			case strings.HasPrefix(q, "count by"):
				if i == 1 {
					continue // no pod covered at +15 s
				}
				v = fmt.Sprint(min(4, 2+i))
			}
			vals = append(vals, fmt.Sprintf(`[%d,%q]`, start.Unix()+int64(15*i), v))
		}
		series := `{"metric":{},"values":[` + strings.Join(vals, ",") + `]}`
		switch {
		case empty != "" && strings.Contains(q, empty):
			series = ""
		case twice != "" && strings.Contains(q, twice):
			series += "," + strings.Replace(series, `{}`, `{"a":"b"}`, 1)
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, series)
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	web, err := policy.Parse("web.yaml", []byte("target: {namespace: shop, name: web}\nmaxReplicas: 9\nmetrics: [{kind: qps, perReplica: 10}]\n"), policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	named, err := policy.Parse("r.yaml", []byte("target: {namespace: shop, name: web}\nmaxReplicas: 9\nmetrics: [{kind: qps, name: ready, perReplica: 10}]\n"), policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		p            *policy.Policy
		d            Deployment
		empty, twice string
		csv, note    string // the recording, and (the start of) a note it comes with
		err          string // the start of the error
	}{
		{name: "default", p: web, d: DefaultDeployment,
			csv: "timestamp,qps,replicas,ready,qps:pods\n1782900000,100,4,4,2\n1782900015,100,4,4,0\n1782900030,100,4,4,4\n1782900045,100,4,4,4\n1782900060,100,4,4,4\n"},
		{name: "no kube-state-metrics", p: web, d: DefaultDeployment, empty: "kube_deployment",
			csv:  "timestamp,qps\n1782900000,100\n1782900015,100\n1782900030,100\n1782900045,100\n1782900060,100\n",
			note: `--ready-query found no series (is kube-state-metrics scraped?), so the recording has no ready column: a replay cannot tell the partial readings the daemon scaled nothing down on (query: max(kube_deployment_status_replicas_ready{namespace=~"shop", deployment=~"web"}))`},
		{name: "a custom query finds nothing", p: web, d: Deployment{Ready: `my_ready{app="web"}`}, empty: "my_ready",
			csv:  "timestamp,qps\n1782900000,100\n1782900015,100\n1782900030,100\n1782900045,100\n1782900060,100\n",
			note: `--ready-query found no series, so the recording has no ready column: a replay cannot tell the partial readings the daemon scaled nothing down on (query: my_ready{app="web"})`},
		{name: "no counts asked", p: web, d: Deployment{},
			csv: "timestamp,qps\n1782900000,100\n1782900015,100\n1782900030,100\n1782900045,100\n1782900060,100\n"},
		{name: "two ready series", p: web, d: DefaultDeployment, twice: "status_replicas_ready",
			err: `record shop/web --ready-query: 2 series over the range, want 1 (query: max(kube_deployment_status_replicas_ready{namespace=~"shop", deployment=~"web"}))`},
		{name: "two ready series, counts optional", p: web, d: Deployment{Ready: DefaultDeployment.Ready, Optional: true}, twice: "status_replicas_ready",
			csv:  "timestamp,qps\n1782900000,100\n1782900015,100\n1782900030,100\n1782900045,100\n1782900060,100\n",
			note: `--ready-query failed, so the recording has no ready column: a replay cannot tell the partial readings the daemon scaled nothing down on: 2 series over the range, want 1 (query: max(kube_deployment_status_replicas_ready{namespace=~"shop", deployment=~"web"}))`},
		{name: "two pods series, counts optional", p: web, d: Deployment{Ready: DefaultDeployment.Ready, Optional: true}, twice: "count by",
			csv:  "timestamp,qps,ready\n1782900000,100,4\n1782900015,100,4\n1782900030,100,4\n1782900045,100,4\n1782900060,100,4\n",
			note: "metric qps podsQuery failed, so the recording has no qps:pods column: its partial readings are not marked: 2 series over the range, want 1 (query: count by"},
		{name: "two pods series", p: web, d: DefaultDeployment, twice: "count by", err: "record shop/web metric qps podsQuery: 2 series over the range, want 1 (query: count by"},
		{name: "bad template", p: web, d: Deployment{Ready: "up{x=~\"{{.Nope}}\"}"},
			err: `record shop/web: --ready-query: bad template: query:1:9: <.Nope>: unknown variable .Nope in type policy.Vars (known variables: .Namespace, .Name, .Pod, .Selector, .Queue, .Window)`},
		{name: "a metric called ready", p: named, d: DefaultDeployment,
			err: `record shop/web: the ready column would take the name of metric "ready"; rename the metric or pass --ready-query ''`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty, twice = tc.empty, tc.twice
			rec, notes, err := c.RecordReplay(context.Background(), tc.p, start, start.Add(time.Minute), 15*time.Second, tc.d)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("err = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			WriteCSV(&b, rec)
			if b.String() != tc.csv {
				t.Errorf("recording =\n%s\nwant\n%s", b.String(), tc.csv)
			}
			noted := slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, tc.note) })
			if tc.note == "" && len(notes) > 0 || tc.note != "" && !noted {
				t.Errorf("notes = %q\nwant %q", notes, tc.note)
			}
		})
	}
}
