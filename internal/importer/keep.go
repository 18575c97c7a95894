package importer

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"

	"orderimport/internal/mapping"
	"orderimport/internal/rawcopy"
)

// Kept orders: every stored order keeps the RetailCRM order it was mapped from (rawcopy), so
// that a new mapping is applied to the stored orders without reading them again (remap.go).
// Under pii=hash and pii=drop the copy is kept without personal data (rawcopy.Strip).
//
// The copies of a task are compressed with a dictionary trained on its own orders, once it has
// seen rawcopy.TrainSamples of them: the first run keeps the first orders without one (their
// copies stay readable, and a re-sync or re-map writes them anew with it).

// codec is the process's codec: dictionaries are loaded once per process and task.
var codec = rawcopy.NewCodec()

// keeper packs the copies of one run's task.
type keeper struct {
	taskID int64
	strip  bool // pii=hash or drop: copies without personal data

	mu       sync.Mutex
	dict     uint32 // the dictionary copies are packed with; 0 while the task has none
	samples  [][]byte
	gaveUp   bool          // training failed in this run: no more samples
	training bool          // a dictionary is being trained (train)
	done     chan struct{} // closed when the training started by this run is over
}

// newKeeper loads the task's dictionaries.
func (im *Importer) newKeeper(ctx context.Context, taskID int64, pii string) (*keeper, error) {
	k := &keeper{taskID: taskID, strip: pii != "" && pii != mapping.PIIKeep}
	dicts, err := im.Store.RawDicts(ctx, taskID)
	if err != nil {
		return nil, err
	}
	for _, d := range dicts {
		if err := codec.Add(rawcopy.Dict{ID: uint32(d.ID), Data: d.Data}); err != nil {
			return nil, fmt.Errorf("importer: dictionary %d of task %d: %w", d.ID, taskID, err)
		}
		k.dict = uint32(d.ID)
	}
	return k, nil
}

// keep is the copy of raw to store (compressed) and the digest of what it holds; raw is an
// order the mapping accepted, so a JSON object. Until the task has a dictionary, copies without
// personal data are gathered to train one.
func (k *keeper) keep(raw []byte) (packed []byte, digest string) {
	kept := raw
	var stripped []byte
	if k.strip || k.wantsSamples() {
		var err error
		if stripped, err = rawcopy.Strip(raw); err != nil {
			return nil, "" // not an object after all: no copy, and a re-map reads it again
		}
		if k.strip {
			kept = stripped
		}
	}
	k.mu.Lock()
	dict := k.dict
	if dict == 0 && !k.gaveUp && stripped != nil && len(k.samples) < rawcopy.TrainSamples {
		k.samples = append(k.samples, stripped)
	}
	k.mu.Unlock()
	return codec.Pack(nil, kept, dict), digestOf(kept)
}

// digestOf is the digest of a kept copy that the row's hash carries, so that a copy that changed
// only where the mapping does not read is still written anew. It tells versions of one order
// apart, which needs no cryptographic hash: xxHash64 costs 0.6 µs for a 5.7 KB order where
// SHA-256 cost 5. (Copies digested with SHA-256 before are written once more when RetailCRM
// sends their order again: their digests differ, not what any reader sees.)
func digestOf(kept []byte) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], xxhash.Sum64(kept))
	return hex.EncodeToString(b[:])
}

// current is the dictionary copies are packed with now.
func (k *keeper) current() uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dict
}

func (k *keeper) wantsSamples() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dict == 0 && !k.gaveUp && len(k.samples) < rawcopy.TrainSamples
}

// train starts making the task's dictionary once enough samples are in (called by the
// goroutine that applies batches, between two of them). Training takes about half a second of a
// core: it runs beside the import, whose copies use the dictionary once it is stored, and the
// run waits for it at its end (trained).
func (r *run) train(ctx context.Context) {
	k := r.keeper
	k.mu.Lock()
	ready := k.dict == 0 && !k.gaveUp && !k.training && len(k.samples) >= rawcopy.TrainSamples
	samples := k.samples
	if ready {
		k.training, k.samples = true, nil
	}
	k.mu.Unlock()
	if !ready {
		return
	}
	k.done = make(chan struct{})
	go func() {
		defer close(k.done)
		d, err := r.makeDict(ctx, samples)
		k.mu.Lock()
		defer k.mu.Unlock()
		k.training = false
		if err != nil {
			// Copies are kept without one; the next run gathers samples again.
			r.log.Warn("no compression dictionary for the kept orders", "error", err)
			k.gaveUp = true
			return
		}
		k.dict = d.ID
		r.log.Info("kept orders are compressed with a dictionary trained on the task's orders", "dict_id", d.ID, "bytes", len(d.Data))
	}()
}

// makeDict trains a dictionary under a reserved id and stores it.
func (r *run) makeDict(ctx context.Context, samples [][]byte) (rawcopy.Dict, error) {
	id, err := r.im.Store.ReserveRawDict(ctx, r.task.ID)
	if err != nil {
		return rawcopy.Dict{}, err
	}
	d, err := rawcopy.Train(uint32(id), samples)
	if err != nil {
		return rawcopy.Dict{}, err
	}
	if err := r.im.Store.SetRawDict(ctx, id, d.Data); err != nil {
		return rawcopy.Dict{}, err
	}
	return d, codec.Add(d)
}

// trained waits for a dictionary being trained (the run's last writes are done; the training
// must not outlive the run that started it).
func (k *keeper) trained() {
	if k != nil && k.done != nil {
		<-k.done
	}
}

// UnpackKept unpacks a kept copy as this process's codec can (the dictionaries of the tasks it
// ran are known to it).
func UnpackKept(packed []byte) ([]byte, error) { return codec.Unpack(nil, packed) }
