package metrics

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/podpilot/podpilot/policy"
	"github.com/podpilot/podpilot/test/benchmem"
)

// BenchmarkFetch2000 reads 2,000 targets (5 namespaces × 400 Deployments, each with the default cpu and qps
// metrics, with the count of the pods the qps reading covers in the qps query) from an httptest Prometheus that answers the batched
// queries from the namespace and name alternations it finds in them. The fake server runs in the same process, so
// ns/op, B/op and allocs/op include its work (parsing the queries, building and encoding 2,000 series for cpu and 4,000 for qps with its count),
// and so do the RSS figures.
func BenchmarkFetch2000(b *testing.B) {
	w := &promWorld{cpu: map[targetKey]string{}, qps: map[targetKey]string{}, pods: map[targetKey]string{}}
	var ps []*policy.Policy
	for n := range 5 {
		ns := fmt.Sprintf("team-%d", n)
		for d := range 400 {
			name := fmt.Sprintf("svc-%d-%03d", n, d)
			w.cpu[targetKey{ns, name}] = strconv.Itoa(d % 100)
			w.qps[targetKey{ns, name}] = strconv.Itoa(d)
			w.pods[targetKey{ns, name}] = strconv.Itoa(1 + d%10)
			ps = append(ps, testPolicy(b, ns, name, cpuQPS))
		}
	}
	srv := newFakeProm(b, false, w.answer)
	srv.forget = true
	c := newTestClient(b, Config{Address: srv.URL})
	ctx := context.Background()

	res := c.Fetch(ctx, ps, evalAt)
	for i, obs := range res.Obs {
		for j, o := range obs {
			if !o.Valid || j == 1 && (!o.PodsKnown || o.Pods == 0) {
				b.Fatalf("policy %d metric %d: %+v", i, j, o)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res = c.Fetch(ctx, ps, evalAt)
	}
	b.StopTimer()
	b.ReportMetric(float64(res.Queries), "queries/pass")
	benchmem.Report(b)
}
