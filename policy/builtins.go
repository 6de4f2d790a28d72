package policy

// builtins lists the algorithms every registry from Builtin holds. A new algorithm is one file with its
// Registration plus one line here.
func builtins() []Registration {
	return []Registration{
		hpaRegistration(),
		trackingRegistration(),
		queueRegistration(),
		burstRegistration(),
		predictiveRegistration(),
		scheduleRegistration(),
	}
}
