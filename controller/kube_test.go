package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/podpilot/podpilot/policy"
)

// heavy is a Deployment as a cluster holds one after kubectl apply: managedFields, kubectl's last-applied copy and
// a pod template with two containers, env and probes.
func heavy(t policy.Target, replicas, ready int32, annotations map[string]string) *appsv1.Deployment {
	d := DeploymentFor(t, replicas, ready, annotations)
	var env []corev1.EnvVar
	for i := range 20 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", i), Value: strings.Repeat("v", 40)})
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}, PeriodSeconds: 10}
	c := corev1.Container{Name: "app", Image: "registry.example.com/team/app:v1.2.3", Env: env, ReadinessProbe: probe, LivenessProbe: probe,
		Args: []string{"--listen=:8080", "--log-level=info", "--config=/etc/app/config.yaml"}}
	side := c
	side.Name = "proxy"
	d.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": t.Name, "team": t.Namespace}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c, side}},
	}
	copy := d.DeepCopy()
	copy.ResourceVersion = ""
	last, _ := json.Marshal(copy)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[lastApplied] = string(last)
	fields, _ := json.Marshal(copy.Spec) // the size of a FieldsV1 set over the spec
	d.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: fields}},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}, Subresource: "status"},
	}
	return d
}

// The caches keep only what podpilot reads: a Deployment's replicas, readiness and annotations (its own among
// them), and an HPA's target.
func TestCacheSlim(t *testing.T) {
	d := heavy(web, 4, 3, map[string]string{AnnotationPaused: "true", "team": "checkout"})
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-hpa", ManagedFields: d.ManagedFields},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}, MaxReplicas: 5}}
	f := newFixture(t, d, h)

	got, err := f.kube.deployments.Deployments("shop").Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" || len(got.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("cached Deployment keeps managedFields %d, last-applied %d bytes, %d containers",
			len(got.ManagedFields), len(got.Annotations[lastApplied]), len(got.Spec.Template.Spec.Containers))
	}
	if got.Annotations["team"] != "checkout" {
		t.Errorf("annotations = %v: slim dropped more than kubectl's copy", got.Annotations)
	}
	gh, err := f.kube.hpas.HorizontalPodAutoscalers("shop").Get("web-hpa")
	if err != nil {
		t.Fatal(err)
	}
	if gh.ManagedFields != nil {
		t.Errorf("cached HPA keeps managedFields")
	}
	w, err := f.kube.Workload(web)
	if err != nil {
		t.Fatal(err)
	}
	if w.Spec != 4 || w.Ready != 3 || !w.Paused || w.HPA != "web-hpa" || w.ResourceVersion != "1" {
		t.Errorf("workload from the slim cache = %+v", w)
	}
}

// BenchmarkCache reports the live heap the Deployment cache holds per Deployment, with and without slim, over
// 2,000 heavy Deployments.
func BenchmarkCache(b *testing.B) {
	const n = 2000
	objs := make([]kruntime.Object, n)
	for i := range objs {
		objs[i] = heavy(policy.Target{Namespace: fmt.Sprintf("team-%d", i%5), Name: fmt.Sprintf("svc-%04d", i)}, 10, 10, nil)
	}
	for _, c := range []struct {
		name string
		opts []informers.SharedInformerOption
	}{{"full", nil}, {"slim", []informers.SharedInformerOption{informers.WithTransform(slim)}}} {
		b.Run(c.name, func(b *testing.B) {
			var perObject float64
			for b.Loop() {
				client := fake.NewClientset(objs...)
				runtime.GC()
				before := heap()
				f := informers.NewSharedInformerFactoryWithOptions(client, 0, c.opts...)
				inf := f.Apps().V1().Deployments().Informer()
				ctx, cancel := context.WithCancel(context.Background())
				f.Start(ctx.Done())
				f.WaitForCacheSync(ctx.Done())
				if got := len(inf.GetStore().ListKeys()); got != n {
					b.Fatalf("cache holds %d Deployments, want %d", got, n)
				}
				runtime.GC()
				perObject = float64(heap()-before) / n
				runtime.KeepAlive(inf)
				cancel()
				f.Shutdown()
			}
			b.ReportMetric(perObject, "B/deployment")
		})
	}
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
