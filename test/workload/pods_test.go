package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodsOf(t *testing.T) {
	cond := func(s corev1.ConditionStatus) []corev1.PodCondition {
		return []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: s}}
	}
	containers := func(cpu ...string) []corev1.Container {
		var out []corev1.Container
		for _, c := range cpu {
			r := corev1.ResourceRequirements{}
			if c != "" {
				r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(c)}
			}
			out = append(out, corev1.Container{Name: "c", Resources: r})
		}
		return out
	}
	now := metav1.Now()
	items := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "ready"}, Spec: corev1.PodSpec{Containers: containers("500m")}, Status: corev1.PodStatus{Conditions: cond(corev1.ConditionTrue)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "unready"}, Spec: corev1.PodSpec{Containers: containers("250m", "1")}, Status: corev1.PodStatus{Conditions: cond(corev1.ConditionFalse)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Spec: corev1.PodSpec{Containers: containers("")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "terminating", DeletionTimestamp: &now}, Spec: corev1.PodSpec{Containers: containers("500m")}, Status: corev1.PodStatus{Conditions: cond(corev1.ConditionTrue)}},
	}
	want := []Pod{
		{Name: "ready", Ready: true, CPURequest: 0.5},
		{Name: "unready", CPURequest: 1.25},
		{Name: "pending"},
		{Name: "terminating", CPURequest: 0.5},
	}
	if diff := cmp.Diff(want, podsOf(items)); diff != "" {
		t.Errorf("podsOf (-want +got):\n%s", diff)
	}
}
