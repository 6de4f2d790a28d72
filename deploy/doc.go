// Package deploy holds the in-cluster install (plain manifests and a kustomization) and the tests that keep it,
// the Dockerfile and the README's install section consistent. It has no code of its own.
package deploy
