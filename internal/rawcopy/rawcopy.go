// Package rawcopy keeps RetailCRM orders as they were sent, compressed, so that a changed
// mapping can be applied to the stored orders without reading them from RetailCRM again.
//
// A kept copy is one zstd frame (github.com/klauspost/compress/zstd). Orders of one account
// repeat the same member names, status codes, store and product names, so a dictionary
// trained on the account's own orders halves the size of a copy: measured on the emulator's
// full orders (5.6 KB of JSON each), about 1.95 KB a copy without a dictionary and about
// 1.0 KB with one of 32 KiB trained on 200 of them (BenchmarkPack). The fastest level is
// used: the better ones saved 3-5% more at twice the CPU an order. The frame names its
// dictionary by id, so copies made before a task had one, or under an older one, stay
// readable as long as the dictionaries are kept.
//
// Dictionaries are trained on copies without personal data (Strip), so that a dictionary
// never holds a name, phone or email, whatever the task's pii setting.
package rawcopy

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
)

// Dict is a trained dictionary and the id its frames carry.
type Dict struct {
	ID   uint32
	Data []byte
}

// TrainSamples is how many orders a dictionary is trained on. Measured on the emulator's full
// orders (matches of 8 bytes, tables for the fastest level): 50 give 1,134 bytes a copy (40 ms
// to train), 100 give 1,080 (70 ms), 200 give 1,057 (150 ms) with klauspost/compress v1.20.1;
// v1.20.5 packs the same orders about 4% smaller (1,004 with 200).
const TrainSamples = 200

// maxDictSize bounds a dictionary (it is kept in memory by every process that reads or writes
// the task's copies); 32 KiB packed as well as 64 KiB did, and faster.
const maxDictSize = 32 << 10

// Train builds a dictionary with id from samples (orders as Strip leaves them).
func Train(id uint32, samples [][]byte) (Dict, error) {
	if id == 0 {
		return Dict{}, errors.New("rawcopy: a dictionary needs an id other than 0")
	}
	// The dictionary's entropy tables are made for the level copies are packed at: the
	// builder's default (the best compression) allocated 68 MB during the training, which a
	// first import's peak memory had to carry on top of its own, and gave larger copies at the
	// fastest level. Matches of 8 bytes rather than 6 give copies 8% smaller (1,145 → 1,057).
	d, err := dict.BuildZstdDict(samples, dict.Options{MaxDictSize: maxDictSize, HashBytes: 8, ZstdDictID: id,
		ZstdLevel: zstd.SpeedFastest})
	if err != nil {
		return Dict{}, fmt.Errorf("rawcopy: train a dictionary on %d orders: %w", len(samples), err)
	}
	return Dict{ID: id, Data: d}, nil
}

// Codec packs and unpacks kept copies. It is safe for concurrent use.
type Codec struct {
	mu    sync.Mutex
	plain *zstd.Encoder
	enc   map[uint32]*dictEncoder // of the dictionaries packed with in the last encoderIdle
	swept time.Time
	dicts map[uint32][]byte
	dec   *zstd.Decoder // rebuilt when a dictionary is added
	now   func() time.Time
}

type dictEncoder struct {
	enc  *zstd.Encoder
	used time.Time
}

// encoderIdle is how long a dictionary's encoder is kept after its last use. Such an encoder
// holds about 3 MB per core (its tables, restored from the dictionary's at every call); one
// process serves every task of its database, and a codec that kept an encoder for each task's
// dictionary grew by that much per task for good (the benchmark's ten imports at once left
// some 60 MB behind). A run packs continuously, so only the tasks importing now keep one; a task
// whose encoder went gets a new one in about a millisecond.
const encoderIdle = time.Minute

// encoderOptions are the options of every encoder. EncodeAll takes one of the encoder's states
// for the whole call and waits when none is free: pages in flight are mapped side by side, so
// there is a state per core, not one that makes them queue.
func encoderOptions(extra ...zstd.EOption) []zstd.EOption {
	return append([]zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0))}, extra...)
}

// NewCodec returns a codec that knows no dictionary yet.
func NewCodec() *Codec {
	plain, err := zstd.NewWriter(nil, encoderOptions()...)
	if err != nil {
		panic(fmt.Sprintf("rawcopy: zstd encoder: %v", err)) // only for invalid options
	}
	return &Codec{plain: plain, enc: map[uint32]*dictEncoder{}, dicts: map[uint32][]byte{}, now: time.Now}
}

// Add makes a dictionary known, for packing with it and for unpacking copies that name it.
func (c *Codec) Add(d Dict) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dicts[d.ID]; ok {
		return nil
	}
	enc, err := zstd.NewWriter(nil, encoderOptions(zstd.WithEncoderDict(d.Data))...)
	if err != nil {
		return fmt.Errorf("rawcopy: dictionary %d: %w", d.ID, err)
	}
	c.dicts[d.ID] = d.Data
	c.enc[d.ID] = &dictEncoder{enc: enc, used: c.now()}
	c.dec = nil
	return nil
}

// encoder is the encoder for dictionary id: plain for 0 or an unknown dictionary. Encoders idle
// for encoderIdle are let go on the way.
func (c *Codec) encoder(id uint32) *zstd.Encoder {
	if id == 0 {
		return c.plain
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.swept) > encoderIdle/4 {
		c.swept = now
		for k, e := range c.enc {
			if now.Sub(e.used) > encoderIdle {
				delete(c.enc, k)
			}
		}
	}
	if e, ok := c.enc[id]; ok {
		e.used = now
		return e.enc
	}
	data, ok := c.dicts[id]
	if !ok {
		return c.plain
	}
	enc, err := zstd.NewWriter(nil, encoderOptions(zstd.WithEncoderDict(data))...)
	if err != nil {
		return c.plain // it was made once when the dictionary was added
	}
	c.enc[id] = &dictEncoder{enc: enc, used: now}
	return enc
}

// Knows reports whether the dictionary with id was added.
func (c *Codec) Knows(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.dicts[id]
	return ok
}

// Pack compresses an order with the dictionary id (0: none) and appends it to dst. With dst nil
// the copy gets a slice of its own, exactly as long as it is: given none, the encoder allocates
// the order's whole length (5.7 KB for a copy of about 1 KB), which the batch then holds until
// it is stored; so it packs into a scratch buffer and copies the result out.
func (c *Codec) Pack(dst, order []byte, id uint32) []byte {
	if dst != nil {
		return c.encoder(id).EncodeAll(order, dst)
	}
	scratch := packScratch.Get().(*[]byte)
	packed := c.encoder(id).EncodeAll(order, (*scratch)[:0])
	out := bytes.Clone(packed)
	if cap(packed) <= maxScratch {
		*scratch = packed
		packScratch.Put(scratch)
	}
	return out
}

// packScratch holds the buffers Pack packs into; one that grew past maxScratch (an order of
// hundreds of kilobytes) is let go rather than kept.
var packScratch = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxScratch = 256 << 10

// maxOrder bounds what a copy unpacks to: a copy that claims more is corrupt (RetailCRM's
// largest orders are well below a megabyte).
const maxOrder = 8 << 20

// ErrCorrupt is returned for a copy that cannot be unpacked: damaged, or made with a
// dictionary that is gone.
var ErrCorrupt = errors.New("rawcopy: the kept copy cannot be read")

// Unpack decompresses a copy, appending the order to dst.
func (c *Codec) Unpack(dst, packed []byte) ([]byte, error) {
	dec, err := c.decoder()
	if err != nil {
		return nil, err
	}
	out, err := dec.DecodeAll(packed, dst)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return out, nil
}

func (c *Codec) decoder() (*zstd.Decoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dec != nil {
		return c.dec, nil
	}
	opts := []zstd.DOption{zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxOrder), zstd.WithDecoderMaxWindow(maxOrder)}
	for _, d := range c.dicts {
		opts = append(opts, zstd.WithDecoderDicts(d))
	}
	dec, err := zstd.NewReader(nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("rawcopy: zstd decoder: %w", err)
	}
	c.dec = dec
	return dec, nil
}
