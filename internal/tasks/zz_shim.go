package tasks

import (
	"orderimport/internal/locale"
	"orderimport/internal/mapping"
)

func shimMsg(fe mapping.FieldError) locale.Message {
	return locale.M("expression_invalid", "line", fe.Line, "column", fe.Column).WithDetail(fe.Message)
}
