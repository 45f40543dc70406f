/*! Genvoris try-on widget. Reference: docs/widget.md (the reasons behind this code too). */
(() => {
  "use strict";
  const VERSION = "1.2.2";
  const w = window;
  const d = document;
  if (w.Genvoris && w.Genvoris.version) return; // included twice: the first copy does everything

  const TRIGGER = ".genvoris-tryon-btn,[data-genvoris-trigger]";
  const SCRIPT_SRC = /\/widget(-\d+\.\d+\.\d+)?\.js([?#]|$)/;
  const MAX_BYTES = 10 * 1024 * 1024;
  const MAX_SIDE = 1600; // photos are scaled down in the browser before upload: faster on phones
  // A tag manager or an eval has no currentScript.
  const script = d.currentScript || [...d.querySelectorAll("script[src]")].reverse().find((s) => SCRIPT_SRC.test(s.src));

  const T = {
    en: {
      title: "Virtual try-on", close: "Close", photo: "Your photo",
      intro: "Add a photo of yourself to see how this looks on you.",
      tips: "Face the camera, in good light, with your shoulders in the frame.",
      choose: "Choose a photo", camera: "Take a photo", drop: "or drop it here",
      privacy: "Your photo is only used for this try-on and is never stored.",
      change: "Use another photo", go: "Try it on", busy: "Creating your try-on…",
      ready: "Your try-on is ready.", result: "Try-on result: {p}", again: "Try another photo", save: "Save image",
      left: "{remaining} of {limit} try-ons left this month.",
      quota: "You have used all {limit} try-ons in your plan this month.",
      upgrade: "Upgrade your plan to keep trying products on.", plans: "See plans",
      paused: "Your try-on plan is paused.", cancelled: "Your try-on plan has been cancelled.",
      no_plan: "Your account does not include virtual try-on yet.",
      credits: "Virtual try-on is unavailable in this store right now. Please try again later.",
      rate: "Too many try-ons in a short time. Please wait {s} seconds and try again.",
      net: "We could not reach the try-on service. Check your connection and try again.",
      session: "Your session has expired. Reload the page and try again.",
      setup: "Virtual try-on is not available on this site right now.",
      type: "This file is not a photo we can use. Choose a JPEG, PNG or WebP image.",
      big: "This photo is too large. Choose one under 10 MB.",
      product: "The product image could not be loaded.",
      fail: "Something went wrong and nothing was charged. Please try again.",
      unsure: "We could not confirm this try-on. Please try again in a moment.",
      renew: "Your try-ons renew on {d}.", view: "Image {n}",
      retry: "Try again", powered: "Powered by Genvoris",
    },
    fr: {
      title: "Essayage virtuel", close: "Fermer", photo: "Votre photo",
      intro: "Ajoutez une photo de vous pour voir ce que cet article donne sur vous.",
      tips: "Face à l’objectif, bien éclairé, les épaules dans le cadre.",
      choose: "Choisir une photo", camera: "Prendre une photo", drop: "ou déposez-la ici",
      privacy: "Votre photo sert uniquement à cet essayage et n’est jamais conservée.",
      change: "Changer de photo", go: "Essayer", busy: "Création de votre essayage…",
      ready: "Votre essayage est prêt.", result: "Votre essayage : {p}", again: "Essayer une autre photo", save: "Enregistrer l’image",
      left: "Il vous reste {remaining} essayages sur {limit} ce mois-ci.",
      quota: "Vous avez utilisé les {limit} essayages de votre forfait ce mois-ci.",
      upgrade: "Passez à un forfait supérieur pour continuer vos essayages.", plans: "Voir les forfaits",
      paused: "Votre forfait d’essayage est en pause.", cancelled: "Votre forfait d’essayage a été résilié.",
      no_plan: "Votre compte n’inclut pas encore l’essayage virtuel.",
      credits: "L’essayage virtuel est momentanément indisponible dans cette boutique. Réessayez plus tard.",
      rate: "Trop d’essayages en peu de temps. Patientez {s} secondes puis réessayez.",
      net: "Impossible de joindre le service d’essayage. Vérifiez votre connexion et réessayez.",
      session: "Votre session a expiré. Rechargez la page et réessayez.",
      setup: "L’essayage virtuel n’est pas disponible sur ce site pour le moment.",
      type: "Ce fichier n’est pas une photo utilisable. Choisissez une image JPEG, PNG ou WebP.",
      big: "Cette photo est trop lourde. Choisissez-en une de moins de 10 Mo.",
      product: "L’image du produit n’a pas pu être chargée.",
      fail: "Un problème est survenu et rien n’a été débité. Veuillez réessayer.",
      unsure: "Nous n’avons pas pu confirmer cet essayage. Réessayez dans un instant.",
      renew: "Vos essayages se renouvellent le {d}.", view: "Image {n}",
      retry: "Réessayer", powered: "Propulsé par Genvoris",
    },
    de: {
      title: "Virtuelle Anprobe", close: "Schließen", photo: "Ihr Foto",
      intro: "Fügen Sie ein Foto von sich hinzu, um zu sehen, wie Ihnen dieser Artikel steht.",
      tips: "Blick in die Kamera, gutes Licht, die Schultern im Bild.",
      choose: "Foto auswählen", camera: "Foto aufnehmen", drop: "oder hier ablegen",
      privacy: "Ihr Foto wird nur für diese Anprobe verwendet und nie gespeichert.",
      change: "Anderes Foto wählen", go: "Anprobieren", busy: "Ihre Anprobe wird erstellt…",
      ready: "Ihre Anprobe ist fertig.", result: "Ihre Anprobe: {p}", again: "Anderes Foto probieren", save: "Bild speichern",
      left: "Noch {remaining} von {limit} Anproben in diesem Monat.",
      quota: "Sie haben alle {limit} Anproben Ihres Tarifs in diesem Monat genutzt.",
      upgrade: "Wechseln Sie zu einem größeren Tarif, um weiter anzuprobieren.", plans: "Tarife ansehen",
      paused: "Ihr Anprobe-Tarif ist pausiert.", cancelled: "Ihr Anprobe-Tarif wurde gekündigt.",
      no_plan: "Ihr Konto enthält noch keine virtuelle Anprobe.",
      credits: "Die virtuelle Anprobe ist in diesem Shop gerade nicht verfügbar. Bitte versuchen Sie es später erneut.",
      rate: "Zu viele Anproben in kurzer Zeit. Bitte warten Sie {s} Sekunden und versuchen Sie es erneut.",
      net: "Der Anprobe-Dienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
      session: "Ihre Sitzung ist abgelaufen. Laden Sie die Seite neu und versuchen Sie es erneut.",
      setup: "Die virtuelle Anprobe ist auf dieser Website gerade nicht verfügbar.",
      type: "Diese Datei ist kein verwendbares Foto. Wählen Sie ein JPEG-, PNG- oder WebP-Bild.",
      big: "Dieses Foto ist zu groß. Wählen Sie eines unter 10 MB.",
      product: "Das Produktbild konnte nicht geladen werden.",
      fail: "Etwas ist schiefgelaufen; es wurde nichts berechnet. Bitte versuchen Sie es erneut.",
      unsure: "Diese Anprobe konnte nicht bestätigt werden. Bitte versuchen Sie es gleich noch einmal.",
      renew: "Ihre Anproben erneuern sich am {d}.", view: "Bild {n}",
      retry: "Erneut versuchen", powered: "Bereitgestellt von Genvoris",
    },
    es: {
      title: "Probador virtual", close: "Cerrar", photo: "Tu foto",
      intro: "Añade una foto tuya para ver cómo te queda este producto.",
      tips: "Mira a la cámara, con buena luz y los hombros dentro del encuadre.",
      choose: "Elegir una foto", camera: "Hacer una foto", drop: "o suéltala aquí",
      privacy: "Tu foto solo se usa para esta prueba y nunca se guarda.",
      change: "Usar otra foto", go: "Probármelo", busy: "Creando tu prueba…",
      ready: "Tu prueba está lista.", result: "Tu prueba: {p}", again: "Probar otra foto", save: "Guardar imagen",
      left: "Te quedan {remaining} de {limit} pruebas este mes.",
      quota: "Has usado las {limit} pruebas de tu plan este mes.",
      upgrade: "Mejora tu plan para seguir probándote productos.", plans: "Ver planes",
      paused: "Tu plan de pruebas está en pausa.", cancelled: "Tu plan de pruebas se ha cancelado.",
      no_plan: "Tu cuenta aún no incluye el probador virtual.",
      credits: "El probador virtual no está disponible en esta tienda ahora mismo. Inténtalo más tarde.",
      rate: "Demasiadas pruebas en poco tiempo. Espera {s} segundos y vuelve a intentarlo.",
      net: "No se pudo conectar con el servicio de pruebas. Comprueba tu conexión y vuelve a intentarlo.",
      session: "Tu sesión ha caducado. Recarga la página y vuelve a intentarlo.",
      setup: "El probador virtual no está disponible en este sitio ahora mismo.",
      type: "Este archivo no es una foto válida. Elige una imagen JPEG, PNG o WebP.",
      big: "Esta foto es demasiado grande. Elige una de menos de 10 MB.",
      product: "No se pudo cargar la imagen del producto.",
      fail: "Algo salió mal y no se ha cobrado nada. Vuelve a intentarlo.",
      unsure: "No pudimos confirmar esta prueba. Vuelve a intentarlo en un momento.",
      renew: "Tus pruebas se renuevan el {d}.", view: "Imagen {n}",
      retry: "Reintentar", powered: "Con la tecnología de Genvoris",
    },
    ar: {
      title: "القياس الافتراضي", close: "إغلاق", photo: "صورتك",
      intro: "أضف صورة لك لترى كيف يبدو هذا المنتج عليك.",
      tips: "انظر إلى الكاميرا في إضاءة جيدة مع ظهور كتفيك في الصورة.",
      choose: "اختر صورة", camera: "التقط صورة", drop: "أو أفلتها هنا",
      privacy: "تُستخدم صورتك لهذا القياس فقط ولا تُحفظ أبدًا.",
      change: "استخدم صورة أخرى", go: "جرّبه", busy: "جارٍ إنشاء القياس…",
      ready: "القياس جاهز.", result: "نتيجة القياس: {p}", again: "جرّب صورة أخرى", save: "حفظ الصورة",
      left: "تبقّى لك {remaining} من {limit} قياسات هذا الشهر.",
      quota: "لقد استخدمت جميع القياسات ({limit}) في خطتك هذا الشهر.",
      upgrade: "رقِّ خطتك لمواصلة تجربة المنتجات.", plans: "عرض الخطط",
      paused: "خطة القياس الخاصة بك متوقفة مؤقتًا.", cancelled: "أُلغيت خطة القياس الخاصة بك.",
      no_plan: "لا يتضمن حسابك القياس الافتراضي بعد.",
      credits: "القياس الافتراضي غير متاح في هذا المتجر حاليًا. حاول مرة أخرى لاحقًا.",
      rate: "محاولات كثيرة في وقت قصير. انتظر {s} ثانية ثم حاول مرة أخرى.",
      net: "تعذّر الاتصال بخدمة القياس. تحقّق من اتصالك وحاول مرة أخرى.",
      session: "انتهت صلاحية جلستك. أعد تحميل الصفحة وحاول مرة أخرى.",
      setup: "القياس الافتراضي غير متاح على هذا الموقع حاليًا.",
      type: "هذا الملف ليس صورة صالحة. اختر صورة بصيغة JPEG أو PNG أو WebP.",
      big: "هذه الصورة كبيرة جدًا. اختر صورة أصغر من 10 ميغابايت.",
      product: "تعذّر تحميل صورة المنتج.",
      fail: "حدث خطأ ولم يُخصم أي شيء. يُرجى المحاولة مرة أخرى.",
      unsure: "تعذّر تأكيد هذه التجربة. يُرجى المحاولة مرة أخرى بعد قليل.",
      renew: "تتجدّد قياساتك في {d}.", view: "الصورة {n}",
      retry: "أعد المحاولة", powered: "بدعم من Genvoris",
    },
    ur: {
      title: "ورچوئل ٹرائی آن", close: "بند کریں", photo: "آپ کی تصویر",
      intro: "اپنی ایک تصویر شامل کریں اور دیکھیں کہ یہ پروڈکٹ آپ پر کیسی لگتی ہے۔",
      tips: "کیمرے کی طرف دیکھیں، روشنی اچھی ہو اور کندھے تصویر میں ہوں۔",
      choose: "تصویر منتخب کریں", camera: "تصویر کھینچیں", drop: "یا اسے یہاں چھوڑیں",
      privacy: "آپ کی تصویر صرف اسی ٹرائی آن کے لیے استعمال ہوتی ہے اور کبھی محفوظ نہیں کی جاتی۔",
      change: "دوسری تصویر استعمال کریں", go: "پہن کر دیکھیں", busy: "آپ کا ٹرائی آن تیار ہو رہا ہے…",
      ready: "آپ کا ٹرائی آن تیار ہے۔", result: "ٹرائی آن کا نتیجہ: {p}", again: "دوسری تصویر آزمائیں", save: "تصویر محفوظ کریں",
      left: "اس مہینے {limit} میں سے {remaining} ٹرائی آن باقی ہیں۔",
      quota: "آپ اس مہینے اپنے پلان کے تمام {limit} ٹرائی آن استعمال کر چکے ہیں۔",
      upgrade: "مزید ٹرائی آن کے لیے اپنا پلان اپ گریڈ کریں۔", plans: "پلان دیکھیں",
      paused: "آپ کا ٹرائی آن پلان روکا ہوا ہے۔", cancelled: "آپ کا ٹرائی آن پلان منسوخ ہو چکا ہے۔",
      no_plan: "آپ کے اکاؤنٹ میں ابھی ورچوئل ٹرائی آن شامل نہیں ہے۔",
      credits: "اس اسٹور میں ورچوئل ٹرائی آن فی الحال دستیاب نہیں ہے۔ بعد میں دوبارہ کوشش کریں۔",
      rate: "کم وقت میں بہت زیادہ کوششیں۔ {s} سیکنڈ انتظار کریں اور دوبارہ کوشش کریں۔",
      net: "ٹرائی آن سروس سے رابطہ نہیں ہو سکا۔ اپنا کنکشن چیک کریں اور دوبارہ کوشش کریں۔",
      session: "آپ کا سیشن ختم ہو گیا ہے۔ صفحہ دوبارہ لوڈ کریں اور دوبارہ کوشش کریں۔",
      setup: "اس ویب سائٹ پر ورچوئل ٹرائی آن فی الحال دستیاب نہیں ہے۔",
      type: "یہ فائل قابلِ استعمال تصویر نہیں ہے۔ JPEG، PNG یا WebP تصویر منتخب کریں۔",
      big: "یہ تصویر بہت بڑی ہے۔ 10 MB سے چھوٹی تصویر منتخب کریں۔",
      product: "پروڈکٹ کی تصویر لوڈ نہیں ہو سکی۔",
      fail: "کچھ غلط ہو گیا اور کوئی چارج نہیں ہوا۔ براہِ کرم دوبارہ کوشش کریں۔",
      unsure: "ہم اس ٹرائی آن کی تصدیق نہیں کر سکے۔ براہِ کرم تھوڑی دیر بعد دوبارہ کوشش کریں۔",
      renew: "آپ کے ٹرائی آن {d} کو دوبارہ دستیاب ہوں گے۔", view: "تصویر {n}",
      retry: "دوبارہ کوشش کریں", powered: "Genvoris کی جانب سے",
    },
  };
  const RTL = { ar: 1, ur: 1 };
  // Refusals only the store can fix.
  const SETUP = ["unauthorized", "invalid_key", "account_inactive", "domain_not_allowed", "token_store_mismatch", "insufficient_scope"];

  const STYLE = `
:host{all:initial!important;display:contents!important}
[hidden]{display:none!important}
dialog{box-sizing:border-box;margin:auto;padding:0;border:0;border-radius:20px;width:min(440px,calc(100vw - 24px));max-height:calc(100dvh - 24px);overflow:auto;--m:#636366;background:#fff;color:#1c1c1e;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Arabic",Tahoma,sans-serif;box-shadow:0 30px 80px rgba(0,0,0,.35);text-align:start;visibility:visible;opacity:1}
dialog:not([open]){display:none}dialog[open]{display:block;position:fixed;inset:0}dialog.warm{visibility:hidden!important}
dialog::backdrop{background:rgba(15,15,20,.55)}
*,*::before,*::after{box-sizing:border-box}
.c{padding:20px 22px 16px;display:flex;flex-direction:column;gap:14px}
.h{display:flex;align-items:center;gap:12px}
.h img{width:48px;height:48px;border-radius:12px;object-fit:cover;background:#f2f2f5;flex:none}
.h div{flex:1;min-width:0}
h2{margin:0;font-size:18px;line-height:1.25;font-weight:700;color:inherit}
.pt{margin:2px 0 0;color:var(--m);font-size:13.5px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
p{margin:0}
section{display:flex;flex-direction:column;gap:14px}
.st{display:grid}.st>section{grid-area:1/1}.st>[hidden],.left[hidden]{display:flex!important;visibility:hidden}.left{min-height:1.5em}.v{visibility:hidden}
.x{flex:none;width:38px;height:38px;border-radius:50%;border:0;background:#f2f2f5;color:#1c1c1e;cursor:pointer;display:grid;place-items:center;padding:0}
.x:hover{background:#e5e5ea}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.drop{border:2px dashed #c7c7cc;border-radius:16px;padding:26px 16px;display:flex;flex-direction:column;align-items:center;justify-content:center;aspect-ratio:4/5;max-height:min(56vh,480px);gap:10px;text-align:center;background:#fafafc;transition:border-color .15s,background .15s}
.drop.on{border-color:var(--a);background:#f0f0ff}
.drop>svg{width:40px;height:40px;stroke-width:1.5;color:var(--m)}
.muted{color:var(--m);font-size:13.5px}
.btn{display:inline-flex;align-items:center;justify-content:center;gap:8px;min-height:44px;padding:0 20px;border-radius:999px;border:1px solid #d1d1d6;background:#fff;color:#1c1c1e;font:inherit;font-weight:600;cursor:pointer;text-decoration:none;line-height:1.2}
.btn:hover{background:#f2f2f5}
.pr{background:var(--a);border-color:var(--a);color:#fff}
.pr:hover{background:var(--a);filter:brightness(1.15)}
.btn[disabled]{opacity:.55;cursor:default}
.row{display:flex;flex-wrap:wrap;gap:10px}.row .btn{flex:1 1 auto}
.f{position:relative;border-radius:16px;overflow:hidden;background:#f2f2f5;aspect-ratio:4/5;max-height:min(56vh,480px);width:100%;display:grid;place-items:center}
.f img{width:100%;height:100%;object-fit:contain;display:block}
.busy:focus{outline:3px solid var(--a);outline-offset:-3px}.busy{position:absolute;inset:0;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:14px;background:rgba(255,255,255,.72);font-weight:600;text-align:center;padding:16px}
.sp{width:42px;height:42px;border-radius:50%;border:4px solid rgba(0,0,0,.12);border-top-color:var(--a);animation:r .9s linear infinite}
.bar{width:70%;height:4px;border-radius:4px;background:rgba(0,0,0,.1);overflow:hidden}
.bar i{display:block;width:40%;height:100%;background:var(--a);border-radius:4px;animation:b 1.4s ease-in-out infinite}
@keyframes r{to{transform:rotate(360deg)}}
@keyframes b{0%{transform:translateX(-100%)}100%{transform:translateX(250%)}}
@media (prefers-reduced-motion:reduce){.sp,.bar i{animation:none}}
.ok{display:flex;gap:8px;align-items:center;color:#1f7a3d;font-weight:600}
.e{border-radius:14px;padding:14px 16px;background:#fff4f2;border:1px solid #ffd2cc;color:#7a1f12;display:flex;gap:12px}
.e svg{flex:none;margin-top:2px}
.e div{display:flex;flex-direction:column;gap:6px}
.e a{color:inherit;font-weight:600}
.ft{display:flex;justify-content:space-between;gap:16px;color:var(--m);font-size:12px;border-top:1px solid #eee;padding-top:12px}
.ft span:last-child{white-space:nowrap}
.msg{font-weight:600}
.th{display:flex;gap:8px;flex-wrap:wrap}.th button{width:48px;height:48px;padding:0;border:2px solid transparent;border-radius:10px;overflow:hidden;background:#f2f2f5;cursor:pointer}.th [aria-pressed=true]{border-color:var(--a)}.th img{width:100%;height:100%;object-fit:cover;display:block}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:3px solid var(--a);outline-offset:2px}
@media (max-width:520px){dialog{width:100vw;max-width:100vw;max-height:100dvh;margin:auto 0 0;border-radius:20px 20px 0 0}.c{padding-bottom:max(16px,env(safe-area-inset-bottom))}}
`;
  const ICONS = {
    camera: "M4 8h3l2-3h6l2 3h3v11H4zM8.5 13a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0-7 0",
    sparkles: "M11 3l1.8 5.2L18 10l-5.2 1.8L11 17l-1.8-5.2L4 10l5.2-1.8zM19 14l.8 2.2 2.2.8-2.2.8L19 20l-.8-2.2L16 17l2.2-.8z",
    shirt: "M8 3L3 6l2 4 3-1.5V21h8V8.5l3 1.5 2-4-5-3c-.5 1.5-2 2.5-4 2.5S8.5 4.5 8 3z",
    eye: "M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12zM9 12a3 3 0 1 0 6 0a3 3 0 1 0-6 0",
    wand: "M3 21L15 9m-2-2l4 4M18 2v4M16 4h4M20 9v2M19 10h2",
  };
  const icon = (name) => `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="${ICONS[name]}"/></svg>`;
  const ICON_CAMERA = icon("camera");
  const HTML = `<style>${STYLE}</style>
<dialog aria-labelledby="gv-t">
<div class="c">
 <div class="h"><img alt=""><div><h2 id="gv-t" data-t="title"></h2><p class="pt"></p></div>
  <button type="button" class="x" data-a="close"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg></button></div>
 <div class="th" role="group" hidden></div>
 <div class="st"><section data-s="pick">
  <div class="drop">${ICON_CAMERA}
   <p data-t="intro"></p>
   <div class="row"><button type="button" class="btn pr" data-a="choose" data-t="choose"></button>
   <button type="button" class="btn" data-a="camera" data-t="camera" hidden></button></div>
   <p class="muted dz" data-t="drop"></p></div>
  <p class="muted" data-t="tips"></p>
  <p class="q muted" hidden></p>
 </section>
 <section data-s="photo" hidden>
  <div class="f"><img class="pv" alt=""><div class="busy" hidden tabindex="-1" role="progressbar" aria-labelledby="gv-b"><div class="sp"></div><span id="gv-b" data-t="busy"></span><div class="bar"><i></i></div></div></div>
  <div class="row"><button type="button" class="btn pr" data-a="go" data-t="go"></button><button type="button" class="btn" data-a="change" data-t="change"></button></div>
 </section>
 <section data-s="result" hidden>
  <div class="f"><img class="res" alt=""></div>
  <p class="ok"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M5 12.5l4.5 4.5L19 7"/></svg><span data-t="ready"></span></p>
  <p class="left muted" hidden></p>
  <div class="row"><button type="button" class="btn pr" data-a="change" data-t="again"></button><a class="btn sv" download="try-on.jpg" data-a="save" data-t="save"></a></div>
 </section>
 <section data-s="error" hidden>
  <div class="e"><svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.5"/></svg>
   <div><p class="msg"></p><p class="sub" hidden></p><p class="up" hidden></p><a class="upl" target="_blank" rel="noopener" hidden data-t="plans"></a></div></div>
  <div class="row"><button type="button" class="btn pr" data-a="retry" data-t="retry"></button><button type="button" class="btn" data-a="change" data-t="change"></button><button type="button" class="btn" data-a="close" data-t="close"></button></div>
 </section></div>
 <input type="file" accept="image/*" hidden class="in">
 <input type="file" accept="image/*" capture="user" hidden class="in">
 <p class="sr" role="status" aria-live="polite"></p>
 <div class="ft"><span data-t="privacy"></span><span data-t="powered"></span></div>
</div></dialog>`;

  let ui = null; // built ahead (see ahead()), or on the first open
  let s = {}; // the current try-on: options, trigger, photo, busy, last failure

  const attr = (el, ...names) => {
    for (const n of names) {
      const v = el && el.getAttribute(n);
      if (v && v !== "null" && v !== "undefined") return v.trim();
    }
    return "";
  };
  const fill = (text, vars) => text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] == null ? "" : vars[k]));
  const t = (key, vars) => fill(T[s.lang][key], vars || {});
  const $ = (sel) => ui.root.querySelector(sel);
  const $$ = (sel) => ui.root.querySelectorAll(sel);

  function language(opts, trigger) {
    const raw = opts.language || attr(trigger, "data-language") || attr(script, "data-language") || d.documentElement.lang || "en";
    const code = raw.toLowerCase().split(/[-_]/)[0];
    return T[code] ? code : "en";
  }

  function settings(opts) {
    const base = (script && script.src) || location.href;
    const api = opts.apiUrl || attr(script, "data-api-url");
    // Beside our /generate only: a guessed path on a merchant's server could do anything.
    const near = (n) => opts[n + "Url"] || attr(script, `data-${n}-url`) || (api ? (/\/generate$/.test(api) ? api.replace(/generate$/, n) : "") : new URL("/api/tryon/" + n, base).href);
    return {
      apiKey: opts.apiKey || attr(script, "data-api-key"),
      token: opts.token || opts.endCustomerToken || attr(script, "data-end-customer-token", "data-token", "data-customer-token"),
      apiUrl: api || new URL("/api/tryon/generate", base).href,
      statusUrl: near("status"),
      eventsUrl: near("events"),
      platform: opts.platform || attr(script, "data-platform"),
      upgradeMessage: opts.upgradeMessage || attr(script, "data-upgrade-message"),
      upgradeUrl: opts.upgradeUrl || attr(script, "data-upgrade-url"),
    };
  }

  function build() {
    const host = d.createElement("genvoris-tryon");
    const root = host.attachShadow({ mode: "open" });
    root.innerHTML = HTML;
    d.body.appendChild(host);
    ui = { host, root, dialog: root.querySelector("dialog") };
    ui.dialog.style.setProperty("--a", accent());
    ui.dialog.addEventListener("close", closed);
    ui.dialog.addEventListener("click", (e) => {
      if (e.target === ui.dialog) ui.dialog.close(); // a click on the backdrop
      const a = e.target.closest && e.target.closest("[data-a]");
      if (a) act(a.getAttribute("data-a"));
    });
    // Tab wraps around inside the dialog.
    ui.dialog.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const f = [...$$("button:not([disabled]),a[href]")].filter((el) => el.getClientRects().length && getComputedStyle(el).visibility != "hidden");
      const edge = e.shiftKey ? f[0] : f[f.length - 1];
      if (!f.length || root.activeElement === edge || !ui.dialog.contains(root.activeElement)) {
        e.preventDefault();
        (e.shiftKey ? f[f.length - 1] : f[0]).focus();
      }
    });
    $(".res").onload = () => ui.dialog.open && ev("TRYON_VIEWED");
    const [file, camera] = $$(".in");
    ui.file = file;
    ui.camera = camera;
    for (const input of [file, camera]) {
      input.addEventListener("change", () => {
        const chosen = input.files[0];
        input.value = ""; // choosing the same photo again must still count as a choice
        if (chosen) choose(chosen);
      });
    }
    const drop = $(".drop");
    drop.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("on");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("on"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("on");
      const f = e.dataTransfer && e.dataTransfer.files[0];
      if (f) choose(f);
    });
    // Phones: a camera button, no drop zone.
    const touch = !!(w.matchMedia && w.matchMedia("(pointer:coarse)").matches);
    $('[data-a="camera"]').hidden = !touch;
    $(".dz").hidden = touch;
  }

  function accent() {
    const a = attr(script, "data-accent-color");
    return a && w.CSS && CSS.supports("color", a) ? a : "#17171c";
  }

  function act(action) {
    if (action === "close") ui.dialog.close();
    else if (action === "choose") ui.file.click();
    else if (action === "camera") ui.camera.click();
    else if (action === "go") send();
    else if (action === "change") show("pick", '[data-a="choose"]');
    else if (action === "retry") (s.retry || send)();
    else if (action === "save") ev("RESULT_SHARED");
  }

  const images = (o) => [...new Set([o.productImage].concat(o.productImages || []))].filter((u) => u && typeof u == "string");

  function open(opts, trigger) {
    const imgs = images(opts);
    if (!imgs.length) {
      console.warn("[Genvoris] A try-on trigger needs data-product-image.", trigger || opts);
      return;
    }
    if (!ui) build();
    if (ui.dialog.open) ui.dialog.close();
    const fresh = !s.busy;
    if (fresh) {
      clearPhoto();
      s = { opts, trigger, imgs, ix: 0 };
      $(".q").hidden = true;
    }
    s.lang = language(s.opts, s.trigger);
    localise();
    if (fresh) show("pick");
    // showModal focuses the element marked autofocus as it opens: one focus, one forced layout.
    const first = ui.root.querySelector(s.busy ? ".busy" : "section:not([hidden]) .pr");
    for (const el of $$("[autofocus]")) el.removeAttribute("autofocus");
    if (first) first.setAttribute("autofocus", "");
    ui.dialog.showModal();
    if (first && ui.root.activeElement !== first) first.focus();
    const cur = s;
    // The preflight and the funnel event wait until the dialog's first frame is drawn (the next
    // frame's callbacks): the shopper sees it sooner, and a network request is no faster anyway.
    const after = new Promise((go) => requestAnimationFrame(() => requestAnimationFrame(go)));
    if (fresh) cur.checked = after.then(() => check(cur));
    after.then(() => {
      opened = 1;
      safe(() => (sessionStorage.gv_open = 1));
      ev("WIDGET_OPENED", cur.opts);
    });
  }

  function localise() {
    const dialog = ui.dialog;
    dialog.lang = s.lang;
    dialog.dir = RTL[s.lang] ? "rtl" : "ltr";
    for (const el of $$("[data-t]")) el.textContent = t(el.getAttribute("data-t"));
    $(".x").setAttribute("aria-label", t("close"));
    for (const input of $$(".in")) input.setAttribute("aria-label", t("photo"));
    $(".pt").textContent = s.opts.productTitle || "";
    $(".pv").alt = t("photo");
    const th = $(".th");
    th.setAttribute("aria-label", s.opts.productTitle || t("title"));
    th.textContent = "";
    s.imgs.forEach((url, i) => {
      const b = d.createElement("button");
      b.type = "button";
      b.setAttribute("aria-label", t("view", { n: i + 1 }));
      b.innerHTML = "<img alt=''>";
      b.firstChild.src = absolute(url);
      b.onclick = () => s.busy || view(i);
      th.append(b);
    });
    view(s.ix);
  }

  function view(i) {
    s.ix = i;
    $(".h img").src = absolute(s.imgs[i]);
    $$(".th button").forEach((b, j) => b.setAttribute("aria-pressed", i === j));
  }

  function show(name, focus) {
    for (const section of $$("section")) section.hidden = section.getAttribute("data-s") !== name;
    const th = $(".th");
    th.hidden = s.imgs.length < 2;
    th.classList.toggle("v", !/pick|photo/.test(name));
    if (name === "pick") clearPhoto();
    if (focus) $(focus).focus();
  }

  function announce(text) {
    const live = $(".sr");
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 60); // a change, even to the same words, is read out
  }

  function closed() {
    ev("CLOSED");
    const trigger = s.trigger;
    if (trigger && trigger.isConnected && trigger.focus) trigger.focus();
  }

  function clearPhoto() {
    if (s.preview) URL.revokeObjectURL(s.preview);
    s.preview = s.photo = s.retry = null;
  }

  // Preflight: only LOCKED or EXHAUSTED stops the shopper; the upload is checked again anyway.
  async function check(cur) {
    const conf = settings(cur.opts);
    let st = {};
    try {
      const body = new URLSearchParams({ api_key: conf.apiKey });
      if (conf.token) body.append("end_customer_token", conf.token);
      const signal = w.AbortSignal && AbortSignal.timeout && AbortSignal.timeout(8e3);
      if (conf.statusUrl) st = await (await fetch(conf.statusUrl, { method: "POST", body, credentials: "omit", signal })).json() || {};
    } catch (e) {
      console.warn("[Genvoris] Status unknown", e);
    }
    const q = st.quota;
    const access = st.access || (SETUP.includes(st.error) && "LOCKED");
    if (cur !== s || !/^(LOCKED|EXHAUSTED)$/.test(access)) {
      if (q && q.limit && cur === s) quota(q);
      return true;
    }
    console.warn("[Genvoris] " + access + ": " + st.message);
    const why = String(st.reason || st.message).toLowerCase();
    const v = q ? { used: q.used, limit: q.limit, remaining: Math.max(0, q.limit - q.used) } : {};
    let key = st.error === "invalid_session_token" ? "session" : /paus/.test(why) ? "paused" : /cancel/.test(why) ? "cancelled" : /plan/.test(why) ? "no_plan" : "setup";
    if (access === "EXHAUSTED") {
      key = q && q.used >= q.limit ? "quota" : "credits";
      const at = new Date(q && q.resetsAt);
      v.d = isNaN(at) ? "" : at.toLocaleDateString(s.lang, { month: "long", day: "numeric" });
    }
    const reason = key === "quota" ? "quota_exhausted" : key;
    if (!/setup|credits|session/.test(key)) emit("genvoris:quota", { reason, used: v.used || 0, limit: v.limit || 0 });
    fail(key, v, null, /quota|no_plan/.test(key) && conf);
    return false;
  }

  function quota(q) {
    const p = $(".q");
    p.hidden = false;
    p.textContent = t("left", { remaining: Math.max(0, q.limit - q.used), limit: q.limit });
  }

  // The backend's checks and messages, before any upload.
  async function choose(file) {
    if (!(await s.checked)) return;
    if (file.size > MAX_BYTES) return fail("big");
    const head = String.fromCharCode(...new Uint8Array(await file.slice(0, 12).arrayBuffer()));
    const heic = /^[^]{4}ftyp(hei[cxms]|hev[cxms]|mif1|msf1)/.test(head);
    if (!heic && !/^(\xff\xd8\xff|\x89PNG|RIFF[^]{4}WEBP)/.test(head)) return fail("type");
    const photo = await shrink(file, heic);
    if (!photo) return fail("type");
    clearPhoto();
    s.preview = URL.createObjectURL(photo);
    s.photo = photo;
    $(".pv").src = s.preview;
    $(".busy").hidden = true;
    show("photo", '[data-a="go"]');
  }

  // Big photos and HEICs go as JPEG at MAX_SIDE, upright; the undecodable as they are (HEIC: null).
  function shrink(file, heic) {
    return new Promise((resolve) => {
      const img = new Image();
      const url = URL.createObjectURL(file);
      const done = (blob) => {
        URL.revokeObjectURL(url);
        resolve(blob && blob.size ? blob : heic ? null : file);
      };
      img.onerror = () => done(null);
      img.onload = () => {
        const scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
        if (scale === 1 && file.size <= 2e6 && !heic) return done(null);
        const canvas = d.createElement("canvas");
        canvas.width = Math.round(img.naturalWidth * scale);
        canvas.height = Math.round(img.naturalHeight * scale);
        const ctx = canvas.getContext("2d");
        ctx.fillStyle = "#fff";
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(done, "image/jpeg", 0.9);
      };
      img.src = url;
    });
  }

  // Focus moves to the progress, not to <body>, while the buttons are disabled.
  function busy(on) {
    s.busy = on;
    const b = $(".busy");
    b.hidden = !on;
    $(".f").setAttribute("aria-busy", on);
    for (const x of $$('[data-s="photo"] .btn')) x.disabled = on;
    if (on) {
      b.focus();
      announce(t("busy"));
    }
  }

  async function send() {
    if (!s.photo) return show("pick", '[data-a="choose"]');
    const conf = settings(s.opts);
    const image = absolute(s.imgs[s.ix]);
    show("photo");
    busy(true);
    let status = 0;
    let body = null;
    let retryAfter = "";
    try {
      const form = new FormData();
      form.append("api_key", conf.apiKey);
      if (conf.token) form.append("end_customer_token", conf.token);
      if (conf.platform) form.append("platform", conf.platform);
      form.append("product_image", image);
      form.append("product_title", s.opts.productTitle || "");
      form.append("product_category", s.opts.productCategory || attr(script, "data-product-category"));
      form.append("page_url", location.href);
      form.append("widget_session_id", sid);
      form.append("photo", s.photo, /png/.test(s.photo.type) ? "photo.png" : "photo.jpg");
      ev("PHOTO_UPLOADED");
      const response = await fetch(conf.apiUrl, { method: "POST", body: form, credentials: "omit", mode: "cors" });
      status = response.status;
      retryAfter = response.headers.get("Retry-After") || "";
      body = await response.json().catch(() => null);
    } catch (problem) {
      busy(false);
      return fail("net", {}, send);
    }
    busy(false);
    if (status === 200 && body && body.image) return succeed(body, image);
    failure(status, body || {}, retryAfter, conf);
  }

  function succeed(body, image) {
    const q = body.end_customer_quota || null;
    const img = $(".res");
    ev("TRYON_GENERATED");
    img.src = body.image;
    img.alt = t("result", { p: s.opts.productTitle || "" });
    $(".sv").href = body.image;
    const left = $(".left");
    left.hidden = !q;
    if (q) {
      left.textContent = t("left", q);
      quota(q);
    }
    const again = $('[data-s="result"] [data-a="change"]');
    again.hidden = !!q && q.remaining < 1;
    show("result", again.hidden ? ".sv" : '[data-s="result"] [data-a="change"]');
    announce(t("ready") + (q ? " " + t("left", q) : ""));
    emit("genvoris:tryon-completed", {
      productImage: image,
      productTitle: s.opts.productTitle || "",
      image: body.image,
      variationCount: body.variation_count || 1,
      generationTimeMs: body.generation_time_ms,
      quota: q,
    });
  }

  function failure(status, body, retryAfter, conf) {
    const code = body.error || "";
    const fields = body.fieldErrors || {};
    if (code === "end_customer_quota") {
      const figures = { reason: body.reason, used: body.used, limit: body.limit };
      emit("genvoris:quota", figures);
      const reason = T.en[body.reason] ? body.reason : "quota";
      const exhausted = body.reason === "quota_exhausted";
      return fail(exhausted ? "quota" : reason, { ...figures, remaining: Math.max(0, body.limit - body.used) }, null, exhausted || reason === "no_plan" ? conf : null);
    }
    if (SETUP.includes(code) || status === 404 || status === 405) {
      console.warn("[Genvoris] Try-on refused: " + (code || status) + ": " + (body.detail || ""));
      return fail("setup");
    }
    if (code === "credit_limit_reached") return fail("credits");
    if (code === "invalid_session_token") return fail("session");
    if (code === "rate_limited" || status === 429) return fail("rate", { s: parseInt(retryAfter, 10) || 30 }, send);
    if (fields.product_image) return fail("product");
    if (code === "payload_too_large") return fail("big");
    if (code === "unsupported_media_type" || fields.photo) return fail("type");
    // Never "nothing was charged" unless nothing was.
    if (body.outcome === "unknown") return fail("unsure", {}, send);
    fail("fail", {}, send);
  }

  function fail(key, vars, retry, upgrade) {
    vars = vars || {};
    s.retry = retry;
    $(".msg").textContent = t(key, vars);
    const sub = $(".sub");
    sub.hidden = key !== "quota";
    sub.textContent = t("left", vars) + (vars.d ? " " + t("renew", vars) : "");
    const up = $(".up");
    const link = $(".upl");
    up.hidden = !upgrade;
    up.textContent = upgrade ? upgrade.upgradeMessage || t("upgrade") : "";
    link.hidden = !(upgrade && upgrade.upgradeUrl);
    if (upgrade && upgrade.upgradeUrl) link.href = upgrade.upgradeUrl;
    const change = $('[data-s="error"] [data-a="change"]');
    const close = $('[data-s="error"] [data-a="close"]');
    $('[data-a="retry"]').hidden = !retry;
    change.hidden = !(retry || key === "type" || key === "big");
    close.hidden = !change.hidden;
    show("error", retry ? '[data-a="retry"]' : change.hidden ? '[data-s="error"] [data-a="close"]' : '[data-s="error"] [data-a="change"]');
    announce([$(".msg").textContent, sub.hidden ? "" : sub.textContent, up.textContent].join(" ").trim());
  }

  function emit(name, detail) {
    const target = s.trigger && s.trigger.isConnected ? s.trigger : d;
    target.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  const absolute = (url) => new URL(url, d.baseURI).href;
  const safe = (f) => {
    try {
      return f();
    } catch (e) {}
  };

  function fromTrigger(el) {
    let more = attr(el, "data-product-images");
    try {
      more = more[0] === "[" ? JSON.parse(more) : more.split(/,?\s+/);
    } catch (e) {
      more = [];
    }
    const numbered = [...el.attributes].filter((a) => /^data-product-image-\d+$/.test(a.name));
    numbered.sort((a, b) => a.name.slice(19) - b.name.slice(19));
    return {
      productId: attr(el, "data-product-id"),
      productImage: attr(el, "data-product-image"),
      productImages: more.concat(numbered.map((a) => a.value.trim())),
      productTitle: attr(el, "data-product-title"),
      productCategory: attr(el, "data-product-category"),
    };
  }

  function triggerOf(event) {
    for (const el of event.composedPath ? event.composedPath() : [event.target]) {
      if (el.matches && el.matches(TRIGGER)) return el;
      if (el === d.body) break;
    }
    return null;
  }

  // Built ahead, so a click only shows it: on the first pointer or focus on a trigger, or when idle.
  const ahead = (e) => ui || (e.type && !triggerOf(e)) || (build(), warm());

  // One unseen layout of the dialog, in the page's language, before any click: the style rules,
  // the fonts and the code the first open needs are ready then. The open attribute is set and
  // removed by hand, so no close event fires; hidden, it is neither painted nor in the
  // accessibility tree.
  function warm() {
    s.lang = language({}, d.querySelector(TRIGGER));
    for (const el of $$("[data-t]")) el.textContent = t(el.getAttribute("data-t"));
    ui.dialog.classList.add("warm");
    ui.dialog.setAttribute("open", "");
    ui.dialog.getBoundingClientRect();
    ui.dialog.removeAttribute("open");
    ui.dialog.classList.remove("warm");
  }
  d.addEventListener("pointerover", ahead, true);
  d.addEventListener("focusin", ahead, true);

  // One listener serves every trigger, late ones too.
  d.addEventListener("click", (e) => {
    const el = triggerOf(e);
    if (!el) return;
    e.preventDefault(); // a <button> inside a form must not submit it
    open(fromTrigger(el), el);
  });
  d.addEventListener("keydown", (e) => {
    const el = (e.key === "Enter" || e.key === " ") && triggerOf(e);
    if (!el || /^(BUTTON|A|INPUT|SUMMARY)$/.test(el.tagName)) return; // those click by themselves
    e.preventDefault();
    open(fromTrigger(el), el);
  });

  // The only request before a click, once a session; a secret key never goes in a URL.
  let design = null;
  let fab = null;
  function loadDesign() {
    const key = attr(script, "data-api-key");
    if (!script || script.hasAttribute("data-no-fab") || !/^gvk_pub_/.test(key)) return;
    const id = "gv-design:" + key;
    try {
      design = JSON.parse(sessionStorage.getItem(id));
    } catch (e) {}
    if (design) return float();
    const url = new URL(attr(script, "data-design-url") || "/api/widget/button-design", script.src);
    url.searchParams.set("key", key);
    fetch(url, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : {}))
      .then((b) => {
        design = (b && b.data) || {};
        try {
          sessionStorage.setItem(id, JSON.stringify(design));
        } catch (e) {}
        float();
      }, () => {});
  }

  function float() {
    const side = design && /^floating-(left|right)$/.test(design.position) && design.position.slice(9);
    const el = () => d.querySelector(TRIGGER) || (attr(script, "data-product-image") && script);
    if (fab || !side || !el()) return;
    const n = (k, lo, hi, x) => (design[k] >= lo && design[k] <= hi ? +design[k] : x) + "px";
    fab = d.createElement("genvoris-fab");
    const root = fab.attachShadow({ mode: "open" });
    root.innerHTML = `<style>:host{all:initial!important}button{all:initial;position:fixed;bottom:24px;${side}:24px;z-index:2147483000;display:flex;align-items:center;gap:8px;cursor:pointer;background:var(--a);color:#fff;font:600 14px/1.2 system-ui,sans-serif;box-shadow:0 8px 24px #0005}button:focus-visible{outline:3px solid var(--a);outline-offset:3px}${STYLE.match(/svg\{.*?\}/)[0]}</style><button type="button" aria-haspopup="dialog">${design.icon === "none" ? "" : icon(ICONS[design.icon] ? design.icon : "sparkles")}<span></span></button>`;
    const b = root.lastChild;
    b.lastChild.textContent = String(design.label || "Try On").slice(0, 20);
    Object.assign(b.style, { borderRadius: n("borderRadius", 0, 40, 8), fontSize: n("fontSize", 10, 24, 14), padding: n("paddingY", 4, 40, 10) + " " + n("paddingX", 4, 60, 20) });
    b.style.setProperty("--a", accent());
    b.onclick = () => open(fromTrigger(el()), b);
    d.body.appendChild(fab);
  }

  function enhance() {
    for (const el of d.querySelectorAll(TRIGGER)) {
      if (el.hasAttribute("aria-haspopup")) continue;
      el.setAttribute("aria-haspopup", "dialog");
      if (!/^(BUTTON|A|INPUT)$/.test(el.tagName)) {
        if (!el.hasAttribute("role")) el.setAttribute("role", "button");
        if (!el.hasAttribute("tabindex")) el.tabIndex = 0;
      }
    }
    if (design && !fab) float();
  }
  let queued = false;
  const observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      enhance();
    });
  });
  const start = () => {
    enhance();
    loadDesign();
    (w.requestIdleCallback || setTimeout)(() => d.querySelector(TRIGGER) && ahead({}));
    observer.observe(d.documentElement, { childList: true, subtree: true });
  };
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start);
  else start();

  // The visit id (SPEC §16): sessionStorage, and the gv_sid cookie for the store's checkout.
  const SID = /^[\w-]{1,64}$/;
  const sid =
    [safe(() => sessionStorage.gv_sid), safe(() => d.cookie.match(/(^|; )gv_sid=([^;]*)/)[2])].find((v) => SID.test(v || "")) ||
    [...crypto.getRandomValues(new Uint8Array(16))].map((b) => (b | 256).toString(16).slice(1)).join("");
  safe(() => (sessionStorage.gv_sid = sid));
  safe(() => (d.cookie = `gv_sid=${sid};path=/;SameSite=Lax${location.protocol == "https:" ? ";Secure" : ""}`));

  // Funnel events: none before an open in this visit, batched, a beacon when the page hides.
  let queue = [];
  let timer = 0;
  let opened = safe(() => sessionStorage.gv_open);
  const eventsTo = (conf) => opened && /^gvk_pub_/.test(conf.apiKey) && !(script && script.hasAttribute("data-no-events")) && conf.eventsUrl;
  function ev(type, o) {
    if (!eventsTo(settings(s.opts || {}))) return;
    o = o || s.opts || {};
    const e = { sessionId: sid, eventType: type, pageUrl: location.href.slice(0, 2048) };
    if (o.productId) e.productId = String(o.productId).slice(0, 200);
    if (o.productTitle) e.productTitle = String(o.productTitle).slice(0, 300);
    queue.push(e);
    if (queue.length > 9) flush();
    else timer = timer || setTimeout(flush, 2e3);
  }
  function flush(beacon) {
    clearTimeout(timer);
    timer = 0;
    const conf = settings(s.opts || {});
    const url = eventsTo(conf);
    while (url && queue.length) {
      const body = JSON.stringify({ api_key: conf.apiKey, events: queue.splice(0, 50) });
      // Dropped on failure: no retry.
      safe(() => (beacon === 1 && navigator.sendBeacon(url, new Blob([body], { type: "text/plain;charset=UTF-8" }))) || fetch(url, { method: "POST", body, keepalive: true, credentials: "omit" }).catch(() => {}));
    }
  }
  d.addEventListener("visibilitychange", () => d.visibilityState == "hidden" && flush(1));
  w.addEventListener("pagehide", () => flush(1));

  w.Genvoris = {
    version: VERSION,
    sessionId: sid,
    trackEvent: (type, o) => (/^(ADDED_TO_CART|CHECKOUT_STARTED)$/.test(type) ? ev(type, o || {}) : console.warn("[Genvoris] Unknown event: " + type)),
    openTryOn: (opts) => open(opts || {}, (opts && opts.trigger) || d.activeElement),
    close: () => ui && ui.dialog.open && ui.dialog.close(),
  };
})();
