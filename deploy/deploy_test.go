package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/podpilot/podpilot/controller"
	"github.com/podpilot/podpilot/policy"
)

// objects decodes every document of the manifests the kustomization lists.
func objects(t *testing.T) []runtime.Object {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	for _, r := range k.Resources {
		data, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			out = append(out, obj)
		}
	}
	return out
}

func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// The RBAC grants exactly what the daemon uses, and nothing more.
func TestRBACIsMinimal(t *testing.T) {
	objs := objects(t)
	roles := find[*rbacv1.ClusterRole](objs)
	if len(roles) != 1 {
		t.Fatalf("%d ClusterRoles; want 1", len(roles))
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if diff := cmp.Diff(want, roles[0].Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	local := find[*rbacv1.Role](objs)
	if len(local) != 1 || local[0].Namespace != "podpilot" {
		t.Fatalf("Roles = %v; want one in podpilot", local)
	}
	leases := []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}}
	if diff := cmp.Diff(leases, local[0].Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	for _, r := range append(roles[0].Rules, local[0].Rules...) {
		for _, v := range append(r.Verbs, r.Resources...) {
			if v == "*" || v == "delete" || v == "secrets" || v == "pods" {
				t.Errorf("rule %v grants %q", r, v)
			}
		}
	}
	for _, b := range find[*rbacv1.ClusterRoleBinding](objs) {
		if b.RoleRef.Name != "podpilot" || len(b.Subjects) != 1 || b.Subjects[0].Name != "podpilot" || b.Subjects[0].Namespace != "podpilot" {
			t.Errorf("ClusterRoleBinding %s binds %v to %v", b.Name, b.Subjects, b.RoleRef)
		}
	}
}

// The Deployment runs two leader-elected replicas, hardened, with probes and resources, and a PDB keeps one.
func TestDeployment(t *testing.T) {
	objs := objects(t)
	ds := find[*appsv1.Deployment](objs)
	if len(ds) != 1 {
		t.Fatalf("%d Deployments", len(ds))
	}
	d := ds[0]
	if *d.Spec.Replicas != 2 || d.Spec.Template.Spec.ServiceAccountName != "podpilot" {
		t.Errorf("replicas %d, service account %q", *d.Spec.Replicas, d.Spec.Template.Spec.ServiceAccountName)
	}
	pod := d.Spec.Template.Spec.SecurityContext
	if pod == nil || !*pod.RunAsNonRoot || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", pod)
	}
	c := d.Spec.Template.Spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes %s, %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath: ConfigMap edits would not reach it", m.Name)
		}
	}
	if pdbs := find[*policyv1.PodDisruptionBudget](objs); len(pdbs) != 1 || pdbs[0].Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudgets %v; want one keeping 1", pdbs)
	}
	svcs := find[*corev1.Service](objs)
	if len(svcs) != 1 || svcs[0].Annotations["prometheus.io/scrape"] != "true" || svcs[0].Annotations["prometheus.io/port"] != "8080" {
		t.Errorf("metrics Service %v", svcs)
	}
	// The mounted config points at the mounted policies and elects a leader.
	cfg, err := controller.LoadConfig("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if !slices.Equal(cfg.Policies, []string{mounts["policies"]}) || !cfg.LeaderElection.Enabled || cfg.LeaderElection.Namespace != "podpilot" ||
		!slices.Contains(c.Args, filepath.Join(mounts["config"], "config.yaml")) {
		t.Errorf("config %v with mounts %v and args %v", cfg.Policies, mounts, c.Args)
	}
}

// Every policy example is valid, and the kustomization ships every one of them; the policies keep a stable
// ConfigMap name (hot reload) and the configuration a hashed one (read at start, so an edit rolls the pods).
func TestPoliciesShipped(t *testing.T) {
	ps, err := policy.Load([]string{"policies"}, policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range ps {
		files = append(files, filepath.ToSlash(p.File))
	}
	var k struct {
		Generators []struct {
			Name    string   `yaml:"name"`
			Files   []string `yaml:"files"`
			Options struct {
				NoHash bool `yaml:"disableNameSuffixHash"`
			} `yaml:"options"`
		} `yaml:"configMapGenerator"`
		Global map[string]any `yaml:"generatorOptions"`
	}
	data, _ := os.ReadFile("kustomization.yaml")
	yaml.Unmarshal(data, &k)
	var shipped []string
	for _, g := range k.Generators {
		switch g.Name {
		case "podpilot-policies":
			shipped = g.Files
			if !g.Options.NoHash {
				t.Errorf("podpilot-policies has a hashed name: an edit would roll the pods instead of hot-reloading")
			}
		case "podpilot-config":
			// The configuration is read once at start: an edit must make a new name, which rolls the pods.
			if g.Options.NoHash || k.Global != nil {
				t.Errorf("podpilot-config has a stable name (generatorOptions %v): an edit would never reach the running pods", k.Global)
			}
		}
	}
	sort.Strings(shipped)
	if diff := cmp.Diff(files, shipped); diff != "" || len(files) == 0 {
		t.Errorf("policy files vs. the kustomization's podpilot-policies (-files +kustomization):\n%s", diff)
	}
}

// Docker is not available here, so the Dockerfile's invariants are checked as text: pinned bases, a runtime
// with no shell, a non-root user, and the Makefile's own build.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var runs []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "RUN":
			runs = append(runs, strings.Join(f[1:], " "))
		}
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9]+\.[0-9]+\.[0-9]+[a-z0-9.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$`)
	if len(froms) < 2 {
		t.Fatalf("FROM lines %v; want a build stage and a runtime stage", froms)
	}
	for _, f := range froms[:len(froms)-1] {
		if !pinned.MatchString(f) {
			t.Errorf("build base %q is not pinned to an exact version or digest", f)
		}
	}
	if last := froms[len(froms)-1]; last != "scratch" && !(strings.HasPrefix(last, "gcr.io/distroless/static") && strings.Contains(last, "@sha256:")) {
		t.Errorf("runtime base %q: want scratch or a digest-pinned distroless static image (no shell)", last)
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	if u := users[len(users)-1]; u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("USER %s is root", u)
	}
	if !slices.ContainsFunc(runs, func(r string) bool { return strings.HasPrefix(r, "make build ") }) {
		t.Errorf("RUN lines %v; want the Makefile's `make build`", runs)
	}
	mk, _ := os.ReadFile("../Makefile")
	build := regexp.MustCompile(`(?m)^build:\n\t(.*)$`).FindSubmatch(mk)
	if build == nil || !strings.Contains(string(build[1]), "CGO_ENABLED=0") || !strings.Contains(string(build[1]), "-trimpath") {
		t.Errorf("the Makefile's build target %q must build statically (CGO_ENABLED=0) with -trimpath", build)
	}
}

// The README's install section and the manifests describe the same install: the commands it gives are the ones
// the end-to-end proof runs, and the names and permissions it states are the manifests'.
func TestReadmeDescribesThisInstall(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "## Installing in a cluster")
	end := strings.Index(readme[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README has no install section")
	}
	install := readme[start : start+1+end]
	for _, want := range []string{
		"kubectl apply -f deploy/namespace.yaml", "kubectl apply --dry-run=server -k deploy/", "kubectl apply -k deploy/", "kubectl delete -k deploy/",
		"deploy/config.yaml", "deploy/policies/", "podpilot-policies", "podpilot-metrics", "podpilot validate deploy/policies",
		"get/list/watch on deployments", "patch on `deployments/scale`", "list/watch on\nhorizontalpodautoscalers",
		"create/patch on events", "get/create/update", "`dryRun: true`", "simulate --mode replay",
	} {
		if !strings.Contains(install, want) {
			t.Errorf("the README's install section does not say %q", want)
		}
	}
	objs := objects(t)
	names := map[string]bool{}
	for _, o := range objs {
		if m, ok := o.(interface{ GetName() string }); ok {
			names[m.GetName()] = true
		}
	}
	for _, n := range []string{"podpilot", "podpilot-metrics", "podpilot-leader-election"} {
		if !names[n] {
			t.Errorf("the manifests have no object named %s", n)
		}
	}
}
