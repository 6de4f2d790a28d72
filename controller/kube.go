package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/podpilot/podpilot/policy"
)

// FieldManager is the manager podpilot's writes are recorded under in a Deployment's managedFields.
const FieldManager = "podpilot"

// The annotations that pause a target, or one direction of it (as KEDA's paused-scale-in and paused-scale-out).
const (
	AnnotationPaused         = "podpilot.io/paused"
	AnnotationPausedReplicas = "podpilot.io/paused-replicas"
	AnnotationPausedScaleIn  = "podpilot.io/paused-scale-in"
	AnnotationPausedScaleOut = "podpilot.io/paused-scale-out"
)

// IsNotFound reports whether err says the target does not exist.
func IsNotFound(err error) bool { return err != nil && apierrors.IsNotFound(err) }

// IsConflict reports whether err says the target changed since it was read.
func IsConflict(err error) bool { return err != nil && apierrors.IsConflict(err) }

// Kube is the Cluster of a real API server: Deployments and HPAs from informers, writes to deployments/scale,
// Events through client-go's recorder.
type Kube struct {
	client      kubernetes.Interface
	scales      scale.ScalesGetter
	factory     informers.SharedInformerFactory
	deployments appslisters.DeploymentLister
	hpas        autoscalinglisters.HorizontalPodAutoscalerLister
	synced      []cache.InformerSynced
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	log         *zap.Logger
}

var _ Cluster = (*Kube)(nil)

// deployments is the resource podpilot scales.
var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// NewScales returns client-go's scale client for cfg, resolving scale kinds through discovery.
func NewScales(cfg *rest.Config, client kubernetes.Interface) (scale.ScalesGetter, error) {
	disc := memory.NewMemCacheClient(client.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(disc)
	return scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disc))
}

// NewKube wires informers for Deployments and HPAs (all namespaces), the scale client and an Event recorder.
func NewKube(client kubernetes.Interface, scales scale.ScalesGetter, resync time.Duration, log *zap.Logger) *Kube {
	f := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTransform(slim))
	k := &Kube{client: client, scales: scales, factory: f, log: log,
		deployments: f.Apps().V1().Deployments().Lister(),
		hpas:        f.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
	}
	k.synced = []cache.InformerSynced{f.Apps().V1().Deployments().Informer().HasSynced, f.Autoscaling().V2().HorizontalPodAutoscalers().Informer().HasSynced}
	k.broadcaster = record.NewBroadcaster()
	k.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	k.recorder = k.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "podpilot"})
	return k
}

// lastApplied is kubectl's copy of the whole object it applied: often the largest annotation, and never read here.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slim drops from each cached object what podpilot never reads: managedFields and kubectl's last-applied copy on
// every object, and a Deployment's pod template. These are most of a Deployment's size, and the caches hold every
// Deployment and HPA in the cluster, which is what the Pod's memory limit has to fit. Writes never start from a
// cached object: Scale patches the scale subresource and Fresh reads from the API server. The one thing a pass
// reads of the managedFields, whether a pinned Deployment's pin was overridden, is kept as a mark.
func slim(obj any) (any, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil // a tombstone: its object was slimmed when it was cached
	}
	d, deployment := obj.(*appsv1.Deployment)
	if deployment {
		// What a pass reads of the managedFields, kept in the cached copy only (and never taken from the object).
		a := d.Annotations
		delete(a, cachedPinOverridden)
		if _, ok := a[AnnotationPausedReplicas]; ok && pinOverridden(d) {
			a[cachedPinOverridden] = "true"
		}
		d.Spec.Template = corev1.PodTemplateSpec{}
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a[lastApplied] != "" {
		delete(a, lastApplied)
		m.SetAnnotations(a)
	}
	return obj, nil
}

// cachedPinOverridden is the annotation that slim gives a cached Deployment whose pin was overridden
// (pinOverridden), as it drops the managedFields that say so.
const cachedPinOverridden = "podpilot.io/internal-pin-overridden"

// pinOverridden reports whether d's managedFields say that someone other than podpilot set spec.replicas after
// the paused-replicas annotation was last set, or at a time they do not give: an update through the scale
// subresource (kubectl scale) records none. Then a leader whose first sight of the target finds it pinned leaves
// the count as it is: the pin was applied by an earlier leader and someone scaled the target since, or (when it
// cannot tell) it may have been. A count podpilot set last, or one set before the pin, is not overridden, and neither is an
// object without those entries (an API server that tracks no fields): its pin is applied. The entries' times are
// to the second, and a tie is not overridden: a pin and a count in the same second is most likely one edit that
// set both. An entry's time is when its manager last changed any of its fields, not these two: a later edit of
// another field by the manager that set the count reads as a later count (the pin is left alone), and one by the
// manager that set the pin as a later pin (the pin is applied again). The API server keeps no finer time.
func pinOverridden(d *appsv1.Deployment) bool {
	var pinAt, countAt time.Time
	other, untimed := false, false
	for _, e := range d.ManagedFields {
		if e.FieldsV1 == nil {
			continue
		}
		var f map[string]any
		if json.Unmarshal(e.FieldsV1.Raw, &f) != nil {
			continue
		}
		if owns(f, "f:metadata", "f:annotations", "f:"+AnnotationPausedReplicas) && e.Time != nil && e.Time.After(pinAt) {
			pinAt = e.Time.Time
		}
		if !owns(f, "f:spec", "f:replicas") {
			continue
		}
		if e.Manager == FieldManager {
			return false // podpilot's own count: a pin it has not met it has not applied
		}
		other = true
		switch {
		case e.Time == nil:
			untimed = true
		case e.Time.After(countAt):
			countAt = e.Time.Time
		}
	}
	return !pinAt.IsZero() && other && (untimed || countAt.After(pinAt))
}

// owns reports whether the managed-fields set f holds the field at path.
func owns(f map[string]any, path ...string) bool {
	for _, p := range path {
		next, ok := f[p].(map[string]any)
		if !ok {
			return false
		}
		f = next
	}
	return true
}

// Start starts the informers and waits for their caches, or for ctx.
func (k *Kube) Start(ctx context.Context) error {
	k.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), k.synced...) {
		return fmt.Errorf("informer caches did not sync: %w", ctx.Err())
	}
	return nil
}

// Synced reports whether the caches are filled.
func (k *Kube) Synced() bool {
	for _, s := range k.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Shutdown stops the event broadcaster, flushing what it can.
func (k *Kube) Shutdown() { k.broadcaster.Shutdown() }

// Workload reads a target from the caches.
func (k *Kube) Workload(t policy.Target) (Workload, error) {
	d, err := k.deployments.Deployments(t.Namespace).Get(t.Name)
	if err != nil {
		return Workload{}, err
	}
	return k.workload(t, d)
}

func (k *Kube) workload(t policy.Target, d *appsv1.Deployment) (Workload, error) {
	var err error
	w := Workload{Ready: d.Status.ReadyReplicas, ResourceVersion: d.ResourceVersion, Spec: 1}
	if d.Spec.Replicas != nil {
		w.Spec = *d.Spec.Replicas
	}
	w.Paused, w.Pin = paused(d.Annotations)
	w.NoScaleIn, w.NoScaleOut = d.Annotations[AnnotationPausedScaleIn] == "true", d.Annotations[AnnotationPausedScaleOut] == "true"
	if w.Pin != nil {
		w.PinOverridden = d.Annotations[cachedPinOverridden] == "true" // a cached copy
		if d.ManagedFields != nil {
			w.PinOverridden = pinOverridden(d) // read from the API server
		}
	}
	w.HPA, err = k.hpaFor(t)
	return w, err
}

func paused(a map[string]string) (bool, *int32) {
	if v, ok := a[AnnotationPausedReplicas]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			pin := int32(n)
			return true, &pin
		}
		return true, nil // a bad pin still pauses: never scale what someone meant to hold
	}
	return a[AnnotationPaused] == "true", nil
}

// hpaFor finds an HPA in the target's namespace whose scaleTargetRef is the Deployment.
func (k *Kube) hpaFor(t policy.Target) (string, error) {
	hs, err := k.hpas.HorizontalPodAutoscalers(t.Namespace).List(labels.Everything())
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if targets(h, t) {
			return h.Name, nil
		}
	}
	return "", nil
}

func targets(h *autoscalingv2.HorizontalPodAutoscaler, t policy.Target) bool {
	r := h.Spec.ScaleTargetRef
	return r.Kind == "Deployment" && r.Name == t.Name && (r.APIVersion == "" || r.APIVersion == "apps/v1")
}

// apiTimeout bounds each call podpilot makes to the API server in a pass: a hung call must not stall the pass (and
// every target after it) until the lease is lost.
const apiTimeout = 10 * time.Second

// Fresh reads the Deployment from the API server, annotations and all: the change that made a write conflict may
// be the one that paused it (its resourceVersion is the scale subresource's).
func (k *Kube) Fresh(ctx context.Context, t policy.Target) (Workload, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	d, err := k.client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return Workload{}, err
	}
	return k.workload(t, d)
}

// Scale patches deployments/scale with the resourceVersion that was read, so that a concurrent change is a
// conflict rather than a lost update.
func (k *Kube) Scale(ctx context.Context, t policy.Target, w Workload, replicas int32) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": w.ResourceVersion},
		"spec":     map[string]any{"replicas": replicas},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	_, err = k.scales.Scales(t.Namespace).Patch(ctx, deploymentsGVR, t.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	return err
}

// Event records an Event on the target's Deployment (silently nothing if it is not in the cache).
func (k *Kube) Event(t policy.Target, warning bool, reason, message string) {
	d, err := k.deployments.Deployments(t.Namespace).Get(t.Name)
	if err != nil {
		return
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	k.recorder.Event(d, typ, reason, message)
}
