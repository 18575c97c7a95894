package tasks

import (
	"errors"
	"sort"

	"orderimport/internal/locale"
	"orderimport/internal/mapping"
)

// CompileMapping compiles a task's own mapping (over the defaults); its problems are field
// errors named "mapping.<field>", every bad field at once, in the form's order.
func CompileMapping(own map[string]string) (*mapping.Mapping, error) {
	m, err := mapping.Compile(own)
	if err == nil {
		return m, nil
	}
	if fields := compileProblems(err); len(fields) > 0 {
		return nil, &InvalidError{Fields: fields}
	}
	return nil, err
}

// mappingProblems is what is wrong with a mapping, nil when it compiles.
func mappingProblems(own map[string]string) []FieldError {
	_, err := mapping.Compile(own)
	if err == nil {
		return nil
	}
	fields := compileProblems(err)
	if len(fields) == 0 {
		fields = []FieldError{{Field: "mapping", Msg: locale.M("mapping_invalid").WithDetail(err.Error())}}
	}
	return fields
}

func compileProblems(err error) []FieldError {
	var ce *mapping.CompileError
	if !errors.As(err, &ce) {
		return nil
	}
	errs := append([]mapping.FieldError(nil), ce.Errors...)
	sort.SliceStable(errs, func(i, j int) bool { return fieldOrder(errs[i].Field) < fieldOrder(errs[j].Field) })
	out := make([]FieldError, 0, len(errs))
	seen := map[string]bool{}
	for _, fe := range errs {
		name := "mapping." + fe.Field
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, FieldError{Field: name, Msg: fe.Msg})
	}
	return out
}

func fieldOrder(name string) int {
	for i, f := range mapping.Fields {
		if f.Name == name {
			return i
		}
	}
	return len(mapping.Fields)
}
