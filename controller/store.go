package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/podpilot/podpilot/policy"
)

// Store holds the policies in force and reloads them from their files. A file that fails validation is rejected
// with a logged error and a metric, and its last good version stays in force; a file that disappears takes its
// policy with it.
type Store struct {
	paths []string
	reg   *policy.Registry
	log   *zap.Logger
	m     *Metrics

	mu     sync.RWMutex
	files  map[string]*loaded // by path
	ps     []*policy.Policy   // in force, by target
	ok     bool               // a load has completed
	errors map[string]string  // path → the latest rejection of its content, for /readyz and tests
	dups   map[string]string  // path → its rejection as a duplicate target, as of the last assembly
	// unlisted is why paths could not be listed at the last load: /readyz reports it, so that a mistyped path
	// shows as an unready pod rather than a ready daemon with nothing to do.
	unlisted error
}

type loaded struct {
	data []byte
	p    *policy.Policy // the last good version; nil if the file never loaded
}

// NewStore returns a store over policy files and directories. Call Reload to load them.
func NewStore(paths []string, reg *policy.Registry, log *zap.Logger, m *Metrics) *Store {
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Store{paths: paths, reg: reg, log: log, m: m, files: map[string]*loaded{}, errors: map[string]string{},
		dups: map[string]string{}}
}

// Policies returns the policies in force, ordered by target.
func (s *Store) Policies() []*policy.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ps
}

// Loaded reports whether the policies have been loaded once.
func (s *Store) Loaded() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ok
}

// Rejected returns the files whose latest version was rejected, with why.
func (s *Store) Rejected() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.errors)+len(s.dups))
	for k, v := range s.errors {
		out[k] = v
	}
	for k, v := range s.dups {
		out[k] = v
	}
	return out
}

// Reload reads the files again. Only changed files are parsed. It returns the problems it found (nil if none);
// the store always keeps working with what is valid.
func (s *Store) Reload() error {
	// A path that cannot be listed (an I/O error, a mount being replaced, a typo) says nothing about its files:
	// the ones loaded from it stay in force, with their history, until it can be listed again. Other paths'
	// removals still take effect.
	var files, unlisted []string
	var problems []error
	for _, p := range s.paths {
		fs, err := policy.Files([]string{p})
		files = append(files, fs...)
		if err != nil {
			unlisted = append(unlisted, p)
			problems = append(problems, err)
			s.m.reloadError(p)
			s.log.Error("listing policy files failed: the policies loaded from that path before stay in force", zap.String("path", p), zap.Error(err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unlisted = errors.Join(problems...)
	seen, edited := map[string]bool{}, map[string]bool{}
	changed := false
	for _, f := range files {
		seen[f] = true
		data, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", f, err))
			s.m.reloadError(f)
			s.log.Error("reading a policy file failed: its last good version stays in force", zap.String("file", f), zap.Error(err))
			continue
		}
		prev := s.files[f]
		if prev != nil && bytes.Equal(prev.data, data) {
			continue
		}
		changed = true
		edited[f] = true
		p, err := policy.Parse(f, data, s.reg)
		if err != nil {
			ent := &loaded{data: data}
			if prev != nil {
				ent.p = prev.p
			}
			s.files[f] = ent
			s.errors[f] = err.Error()
			s.m.reloadError(f)
			if ent.p != nil {
				s.log.Error("policy file rejected: the last good version stays in force", zap.String("file", f), zap.Error(err))
			} else {
				s.log.Error("policy file rejected", zap.String("file", f), zap.Error(err))
			}
			problems = append(problems, err)
			continue
		}
		delete(s.errors, f)
		s.files[f] = &loaded{data: data, p: p}
		if prev != nil {
			s.log.Info("policy file reloaded", zap.String("file", f), zap.String("target", p.Target.String()))
		}
	}
	for f := range s.files {
		if !seen[f] && !slices.ContainsFunc(unlisted, func(p string) bool { return under(f, p) }) {
			delete(s.files, f)
			delete(s.errors, f)
			changed = true
			s.log.Info("policy file removed", zap.String("file", f))
		}
	}
	if changed || !s.ok {
		s.ps, problems = s.assemble(problems, edited)
		s.m.policies(len(s.ps))
	}
	s.ok = true
	return errors.Join(problems...)
}

// under reports whether file f was listed from path p (the file itself, or a directory holding it), however
// either is spelled (./web.yaml, /etc//podpilot).
func under(f, p string) bool {
	f, p = filepath.Clean(f), filepath.Clean(p)
	return f == p || filepath.Dir(f) == p
}

// Unlisted returns why some policy paths could not be listed at the last load, or nil when all could.
func (s *Store) Unlisted() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.unlisted
}

// assemble builds the policy list from the files. A target claimed by two files stays with the one in force, and
// the other is rejected at its target line: a new file never takes a target over from a working policy, whatever
// the names' order. When the file in force is gone (renamed, say), a file rejected as a duplicate before still
// yields to any other claimant (the renamed file); between claimants of the same standing, the first in name
// order has it.
func (s *Store) assemble(problems []error, edited map[string]bool) ([]*policy.Policy, []error) {
	rejected := maps.Clone(s.dups)
	clear(s.dups)
	incumbent := map[string]string{}
	inForce := map[string]*policy.Policy{} // by file
	for _, p := range s.ps {
		incumbent[p.Target.String()] = p.File
		inForce[p.File] = p
	}
	rank := func(f, key string) int {
		switch {
		case f == incumbent[key]:
			return 0
		case rejected[f] == "":
			return 1
		}
		return 2
	}
	names := make([]string, 0, len(s.files))
	for f := range s.files {
		if s.files[f].p != nil {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	owner := map[string]string{}
	for _, f := range names {
		key := s.files[f].p.Target.String()
		if o, taken := owner[key]; !taken || rank(f, key) < rank(o, key) {
			owner[key] = f
		}
	}
	var ps []*policy.Policy
	for _, f := range names {
		p := s.files[f].p
		key := p.Target.String()
		if o := owner[key]; o != f {
			err := p.Duplicate(o)
			again := rejected[f] == err.Error() && !edited[f] // rejected so, unchanged, at the last assembly: logged and counted then
			s.dups[f] = err.Error()
			problems = append(problems, err)
			if !again {
				s.m.reloadError(f)
			}
			// An edit that moved a file in force onto another file's target is rejected like any bad edit: its
			// last good version stays in force, unless another file has claimed that version's target meanwhile.
			if prev := inForce[f]; prev != nil && prev != p {
				if pk := prev.Target.String(); owner[pk] == "" {
					owner[pk] = f
					ps = append(ps, prev)
					if !again {
						s.log.Error("policy file rejected: the last good version stays in force", zap.String("file", f), zap.Error(err))
					}
					continue
				}
			}
			if !again {
				s.log.Error("policy file rejected", zap.String("file", f), zap.Error(err))
			}
			continue
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Target.String() < ps[j].Target.String() })
	return ps, problems
}

// Watch reloads the files every period until ctx ends. Polling catches every way a file can change, including
// the symlink swap of a mounted ConfigMap.
func (s *Store) Watch(ctx context.Context, clk clock.WithTicker, every time.Duration) {
	t := clk.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.Reload() // problems are logged and counted by Reload
		}
	}
}
