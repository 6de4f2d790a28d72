package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podpilot record writes a recording that podpilot simulate reads unchanged.
func TestRecordThenSimulate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.URL.Path != "/api/v1/query_range" {
			http.NotFound(w, r)
			return
		}
		var vals []string
		q := r.Form.Get("query")
		counts := strings.Contains(q, "kube_deployment") || strings.HasPrefix(q, "count by")
		for i := 0; i < 240; i++ { // an hour at 15 s: load rising then falling, on 3 pods
			v := 50 + 40*float64(min(i, 240-i))/120
			if counts {
				v = 3
			}
			vals = append(vals, fmt.Sprintf(`[%d,"%g"]`, 1_782_900_000+15*i, v))
		}
		warn := `"warnings":["store gateway down: partial response"],`
		if counts {
			warn = ""
		}
		fmt.Fprintf(w, `{"status":"success",%s"data":{"resultType":"matrix","result":[{"metric":{"namespace":"shop","target":"web"},"values":[%s]}]}}`, warn, strings.Join(vals, ","))
	}))
	defer srv.Close()
	dir := t.TempDir()
	pol := filepath.Join(dir, "web.yaml")
	os.WriteFile(pol, []byte("target: {namespace: shop, name: web}\nmaxReplicas: 30\nmetrics: [{kind: qps, perReplica: 10}]\n"), 0o644)
	rec := filepath.Join(dir, "web.csv")
	var out, errb bytes.Buffer
	code := dispatch([]string{"record", "--policy", pol, "--prometheus-url", srv.URL, "--start", "1782900000", "--end", "1782903585", "--out", rec}, &out, &errb)
	if code != 0 || !strings.Contains(errb.String(), "recorded 1 metric(s) of shop/web and 3 more column(s), 240 samples") {
		t.Fatalf("record = %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "podpilot record: warning: shop/web metric qps: Prometheus warned: store gateway down: partial response (query: ") {
		t.Errorf("record did not pass on Prometheus's warning:\n%s", errb.String())
	}
	data, _ := os.ReadFile(rec)
	if !strings.HasPrefix(string(data), "timestamp,qps,replicas,ready,qps:pods\n1782900000,50,3,3,3\n") {
		t.Errorf("recording starts %.60q", data)
	}
	out.Reset()
	errb.Reset()
	code = dispatch([]string{"simulate", "--mode", "replay", "--recording", rec, "--policy", "hpa", "--policy", pol}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "replay on "+rec) || !strings.Contains(out.String(), "scale events") {
		t.Errorf("simulate on the recording = %d\n%s\n%s", code, out.String(), errb.String())
	}
	out.Reset()
	code = dispatch([]string{"simulate", "--recording", rec, "--capacity", "10", "--policy", pol, "--output", "json"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), `"demand": "qps"`) {
		t.Errorf("closed-loop on the recording = %d; want its metric as the demand, not its counts\n%.300s\n%s", code, out.String(), errb.String())
	}
	if code := dispatch([]string{"record", "--policy", pol}, &out, &errb); code != 2 {
		t.Errorf("record without --start = %d; want 2 (usage)", code)
	}
}
