package secret

import "sync"

// MinRedacted is the shortest secret a Keyring remembers for redaction.
const MinRedacted = 8

// maxRecent bounds the secrets a keyring remembers: enough for every task a
// process runs in a while; the oldest is forgotten first.
const maxRecent = 1024

// recentSet is a bounded set of secrets in order of last use.
type recentSet struct {
	mu    sync.Mutex
	order []string // oldest first
	pos   map[string]int
}

func (s *recentSet) add(v string) {
	if len(v) < MinRedacted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pos == nil {
		s.pos = make(map[string]int)
	}
	if i, ok := s.pos[v]; ok {
		if i == len(s.order)-1 {
			return
		}
		s.order = append(s.order[:i], s.order[i+1:]...)
	} else if len(s.order) == maxRecent {
		delete(s.pos, s.order[0])
		s.order = s.order[1:]
	}
	s.order = append(s.order, v)
	for i := range s.order {
		s.pos[s.order[i]] = i
	}
}

func (s *recentSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.order))
	for i, v := range s.order {
		out[len(out)-1-i] = v
	}
	return out
}
