package keys

// String returns the reason's name as logs and metrics give it, in
// snake case ("signature_mismatch"); "unknown" for a value not listed.
func (r Reason) String() string {
	switch r {
	case ReasonNoAuthorization:
		return "no_authorization"
	case ReasonMalformed:
		return "malformed"
	case ReasonIDOrSignatureMissing:
		return "id_or_signature_missing"
	case ReasonNoDate:
		return "no_date"
	case ReasonDateOutOfWindow:
		return "date_out_of_window"
	case ReasonHeaderMissing:
		return "header_missing"
	case ReasonMultipleHeader:
		return "multiple_header"
	case ReasonAlgorithm:
		return "algorithm"
	case ReasonUnknownKey:
		return "unknown_key"
	case ReasonSignatureMismatch:
		return "signature_mismatch"
	case ReasonReplayed:
		return "replayed"
	case ReasonReplayLimit:
		return "replay_limit"
	}
	return "unknown"
}
