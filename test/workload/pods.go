package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// listPods returns the pods the Deployment namespace/name selects, by its label selector. A Deployment that does
// not exist (yet) has no pods.
func listPods(ctx context.Context, cs kubernetes.Interface, namespace, name string) ([]Pod, error) {
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %s/%s: %w", namespace, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of deployment %s/%s: %w", namespace, name, err)
	}
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of deployment %s/%s: %w", namespace, name, err)
	}
	return podsOf(list.Items), nil
}

// podsOf converts API pods to the model's: a pod is ready when its Ready condition is True and it is not being
// deleted (a terminating pod is taken out of its Service's endpoints and gets no traffic).
func podsOf(items []corev1.Pod) []Pod {
	out := make([]Pod, 0, len(items))
	for i := range items {
		p := &items[i]
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		var cpu float64
		for _, c := range p.Spec.Containers {
			if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
				cpu += float64(q.MilliValue()) / 1000
			}
		}
		out = append(out, Pod{Name: p.Name, Ready: ready && p.DeletionTimestamp == nil, CPURequest: cpu})
	}
	return out
}
