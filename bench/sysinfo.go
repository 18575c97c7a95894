package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes the node the numbers were taken on.
type machine struct {
	CPUs    int
	Model   string
	MemMiB  int64
	Go      string
	Kernel  string
	Commit  string
	Started time.Time
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Started: time.Now()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb > 0 {
		m.MemMiB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			m.Commit += " (with uncommitted changes of the people working in the tree)"
		}
	}
	return m
}

// procField reads a "Name: value kB" line of a /proc status-like file; -1 when absent.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}

func loadAvg() (one, five float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	one, _ = strconv.ParseFloat(f[0], 64)
	five, _ = strconv.ParseFloat(f[1], 64)
	return one, five
}

// cpuSample is a snapshot of CPU time: the whole machine (busy, from /proc/stat), this
// process, its finished children, and one live child (the emulator).
type cpuSample struct {
	at       time.Time
	busy     time.Duration
	self     time.Duration
	children time.Duration
	emu      time.Duration
}

var clkTck = 100 * time.Millisecond / 10 // USER_HZ is 100 on Linux: one tick is 10 ms

func sampleCPU(emuPid int) cpuSample {
	s := cpuSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		// user nice system idle iowait irq softirq steal
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i == 3 || i == 4 || i >= 8 {
				continue
			}
			s.busy += time.Duration(n) * clkTck
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = tv(ru.Utime) + tv(ru.Stime)
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		s.children = tv(ru.Utime) + tv(ru.Stime)
	}
	if emuPid > 0 {
		s.emu = pidCPU(emuPid)
	}
	return s
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// pidCPU is utime+stime of a live process.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields after the closing parenthesis are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clkTck
}

// cpuUse is what happened between two samples.
type cpuUse struct {
	Wall    time.Duration
	Self    time.Duration // this process (the import, or the floor)
	Emu     time.Duration // the emulator child
	Foreign time.Duration // everything else on the machine (other people's work)
}

func (a cpuSample) until(b cpuSample) cpuUse {
	u := cpuUse{Wall: b.at.Sub(a.at), Self: b.self - a.self + b.children - a.children, Emu: b.emu - a.emu}
	u.Foreign = max(0, (b.busy-a.busy)-u.Self-u.Emu)
	return u
}

// foreignCores is the average number of cores other processes kept busy.
func (u cpuUse) foreignCores() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return u.Foreign.Seconds() / u.Wall.Seconds()
}

// peakRSS is this process's VmHWM in bytes.
func peakRSS() int64 {
	kb := procField("/proc/self/status", "VmHWM")
	if kb < 0 {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			return ru.Maxrss * 1024
		}
		return 0
	}
	return kb * 1024
}
