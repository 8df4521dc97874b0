/**
 * The WSUS-style update metadata document of a revision (issue 3, item 4): one XML document per
 * revision, in the namespace http://schemas.microsoft.com/msus/2002/12/Update, with the element
 * names of MS-WUSP's update metadata. `revisionToXml` and `revisionFromXml` are inverses: a round
 * trip gives back the same (normalized) revision, and the same revision always gives the same bytes.
 */
export {
  CMD_NS,
  MSP_NS,
  parseRevisionDocument,
  UPCAT_NS,
  UPDATE_NS,
  type Classification,
  type RevisionDocument,
  type RevisionFile,
} from './update-xml-model.js';
export { revisionToXml } from './update-xml-writer.js';
export { revisionFromXml, type RevisionXmlReadOptions } from './update-xml-reader.js';
