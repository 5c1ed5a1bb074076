/**
 * Served as /assets/passkeys.js. A form marked data-webauthn="register" or "authenticate" carries
 * its options (JSON) in data-options; on submit the browser runs the ceremony, the result goes into
 * the form's hidden "response" field, and the form posts as any other (CSRF token included).
 */
export const PASSKEY_SCRIPT = `"use strict";
(function () {
  var forms = document.querySelectorAll("form[data-webauthn]");
  if (!window.PublicKeyCredential || !window.SimpleWebAuthnBrowser) {
    forms.forEach(function (form) {
      var status = form.querySelector("[data-webauthn-status]");
      if (status) status.textContent = "This browser cannot use passkeys.";
    });
    return;
  }
  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.done === "1") return;
      event.preventDefault();
      var status = form.querySelector("[data-webauthn-status]");
      var optionsJSON = JSON.parse(form.dataset.options);
      var ceremony = form.dataset.webauthn === "register"
        ? SimpleWebAuthnBrowser.startRegistration({ optionsJSON: optionsJSON })
        : SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: optionsJSON });
      if (status) status.textContent = "Follow your browser's prompt.";
      ceremony.then(function (result) {
        form.querySelector("input[name=response]").value = JSON.stringify(result);
        form.dataset.done = "1";
        form.submit();
      }, function (error) {
        if (status) status.textContent = "The passkey was not used (" + (error && error.name ? error.name : "error") + "). You can try again.";
      });
    });
  });
})();
`;
