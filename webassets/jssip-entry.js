// The browser phone's SIP library: JsSIP from npm, exposed as window.JsSIP by the IIFE bundle.
module.exports = require("jssip");
