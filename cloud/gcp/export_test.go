package gcp

// The driver's list page decoders and the api-version header its lists
// send, for the external tests, which compare them with the SDK's on the
// emulator's pages.
var (
	DecodeGroupList      = decodeGroupList
	DecodeAutoscalerList = decodeAutoscalerList
)

// APIVersion is the x-goog-api-version the driver's lists send.
const APIVersion = apiVersion
